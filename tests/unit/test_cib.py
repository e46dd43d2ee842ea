"""steps.cib against the real Pacemaker tools of this machine, on a CIB file (CIB_file) instead of a live cluster."""
import shutil
import subprocess

import pytest

from axha.steps import cib
from axha.steps.runner import LocalRunner

pytestmark = pytest.mark.skipif(shutil.which("cibadmin") is None, reason="pacemaker-cli-utils not installed")

VIP = cib.primitive("vip", "ocf", "IPaddr2", "heartbeat", {"ip": "192.168.77.100", "cidr_netmask": "24"},
                    ops=(cib.Op("monitor", "10s", "20s"),))
FENCE = cib.primitive("fence-node1", "stonith", "fence_ipmilan", None,
                      {"ip": "192.168.77.201", "pcmk_host_list": "node1"}, ops=(cib.Op("monitor", "60s", "20s"),))


def live_file(tmp_path):
    path = tmp_path / "live.xml"
    path.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    return path


def push(path, diff):
    subprocess.run(["cibadmin", "--patch", "--xml-pipe"], input=diff.diff, text=True, check=True,
                   env={"CIB_file": str(path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def test_diff_push_then_nothing_to_do(tmp_path):
    path = live_file(tmp_path)
    editor = cib.CibEditor(LocalRunner("node1", env={"CIB_file": str(path)}))
    change = cib.CibChange(objects=(cib.CibObject("resources", "vip", VIP), cib.CibObject("resources", "fence-node1",
                                                                                          FENCE)),
                           properties=(("stonith-enabled", "true"),), rsc_defaults=(("resource-stickiness", "100"),))
    first = editor.diff(change)
    assert first.live and not first.empty
    assert any("primitive vip" in line for line in first.summary)
    push(path, first)
    text = path.read_text()
    assert 'id="vip"' in text and 'name="resource-stickiness" value="100"' in text
    again = editor.diff(change)
    assert again.empty and again.summary == ()


def test_changed_value_gives_a_modify_diff(tmp_path):
    path = live_file(tmp_path)
    editor = cib.CibEditor(LocalRunner("node1", env={"CIB_file": str(path)}))
    base = cib.CibChange(objects=(cib.CibObject("resources", "vip", VIP), cib.CibObject("resources", "fence-node1",
                                                                                         FENCE)))
    push(path, editor.diff(base))
    moved = VIP.replace("192.168.77.100", "192.168.77.101")
    diff = editor.diff(cib.CibChange(objects=(cib.CibObject("resources", "vip", moved),)))
    assert not diff.empty
    assert any("192.168.77.101" in line for line in diff.summary), diff.summary


def test_crm_verify_refuses_and_allows_expected(tmp_path):
    path = live_file(tmp_path)
    editor = cib.CibEditor(LocalRunner("node1", env={"CIB_file": str(path)}))
    change = cib.CibChange(objects=(cib.CibObject("resources", "vip", VIP),))
    with pytest.raises(cib.CibError, match="no STONITH"):
        editor.diff(change)
    allowed = cib.CibChange(objects=change.objects, allowed_errors=cib.NO_STONITH_YET)
    assert not editor.diff(allowed).empty


FIXTURES = __import__("pathlib").Path(__file__).parent.parent / "fixtures" / "cib"


@pytest.mark.parametrize("name, expected", [
    ("crm_diff-create.xml", ("create primitive vip in resources",)),
    ("crm_diff-modify.xml", ("modify nvpair vip-instance_attributes-ip: ip=192.168.77.101",)),
    ("crm_diff-delete.xml", ("delete nvpair vip-instance_attributes-ip",)),
])
def test_summarize_recorded_diffs(name, expected):
    assert cib.summarize_diff((FIXTURES / name).read_text()) == expected
