"""`axha lab` argument parsing: --instance is honoured wherever it is written (never the wrong lab instance)."""
import pytest

from axha_lab import cli
from axha_lab.layout import LabError


def _parse(argv):
    args = cli._parser().parse_args(argv)
    if args.command == "exec":
        cli._exec_instance(args)
    return args


@pytest.mark.parametrize("argv", [
    ["exec", "node1", "--instance", "5", "--", "mkfs.ext4", "/dev/vdb"],
    ["exec", "node1", "--instance=5", "mkfs.ext4", "/dev/vdb"],
    ["exec", "--instance", "5", "node1", "--", "mkfs.ext4", "/dev/vdb"],
    ["--instance", "5", "exec", "node1", "--", "mkfs.ext4", "/dev/vdb"],
])
def test_exec_instance_anywhere(argv):
    args = _parse(argv)
    assert args.instance == 5
    assert [a for a in args.cmd if a != "--"] == ["mkfs.ext4", "/dev/vdb"]


def test_exec_command_arguments_named_instance_after_separator_are_kept():
    args = _parse(["--instance", "5", "exec", "node1", "--", "echo", "--instance", "7"])
    assert args.instance == 5
    assert [a for a in args.cmd if a != "--"] == ["echo", "--instance", "7"]


def test_exec_bad_instance_is_an_error():
    with pytest.raises(LabError):
        _parse(["exec", "node1", "--instance", "x", "--", "hostname"])


@pytest.mark.parametrize("argv", [
    ["power", "node1", "off", "--instance", "5"],
    ["bmc", "node2", "stop", "--instance", "5"],
    ["fault", "node1", "clear", "--instance", "5"],
    ["down", "--instance", "5"],
])
def test_other_commands_take_instance_after_the_command(argv):
    assert _parse(argv).instance == 5


def test_no_instance_means_environment_default():
    assert _parse(["power", "node1", "status"]).instance is None
