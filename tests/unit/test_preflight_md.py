"""md arrays known only from `mdadm --detail` (unreadable /proc/mdstat): the script finds them, verdicts judge them."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from axha.checks import mdraid, raid
from axha.checks.script import script_argv
from axha.checks.view import NodeView
from axha.steps.sections import Section, split_sections
from axha.steps.spec_load import load_cluster

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
UP = FIX / "upstream"
LAB_MDADM = Path(__file__).resolve().parents[2] / "lab" / "profiles" / "degraded-raid" / "node1"


def up(name: str) -> str:
    return (UP / name).read_text()


def sections(scenario: str, node: str) -> dict[str, Section]:
    """Every section a node's recorded run printed (a recording may hold several script runs: see record.py)."""
    commands = json.loads((FIX / scenario / f"{node}.json").read_text())["commands"]
    return split_sections("".join((FIX / scenario / c["stdout_file"]).read_text() for c in commands))


def view(node: str, **override) -> NodeView:
    """A baseline lab node as recorded (its /proc/mdstat unreadable: the lab kernel has no md driver), with
    no RAID controller CLI, and the md sections given."""
    spec = load_cluster(FIX / "baseline" / "cluster.yaml")
    own = sections("baseline", node)
    no_tool = own["perccli"]  # "perccli64: not installed", rc 127, as the script prints for any absent CLI
    own = {**own, "storcli": Section("storcli", 127, no_tool.text.replace("perccli64", "storcli64")), **override}
    return NodeView(spec, spec.node(node), own, sections("baseline", spec.peer(node).name))


def mdadm_section(*pairs: tuple[str, str]) -> Section:
    """The mdadm section as the script prints it: `@@md DEVICE` before each `mdadm --detail DEVICE`."""
    return Section("mdadm", 0, "\n".join(f"@@md {dev}\n{text}" for dev, text in pairs))


def codes(findings) -> dict[str, str]:
    return {f.code: f.status for f in findings}


def test_recorded_mdstat_is_unreadable_on_the_lab_nodes():
    s = sections("baseline", "node1")["mdstat"]
    assert s.rc == 1 and "No such file" in s.text  # what the mdadm fallback is for


def test_degraded_array_known_only_from_mdadm_fails_on_that_node():
    degraded = mdadm_section(("/dev/md0", up("mdadm-detail-raid1-degraded-faulty.txt")))
    d = mdraid.parse_mdadm_detail(degraded.text)[0]
    assert (d.device, d.level, d.state_words) == ("/dev/md0", "raid1", ("clean", "degraded"))
    assert (d.raid_devices, d.active_devices, d.failed_devices) == (2, 1, 1)
    assert d.member_states == (("-", "removed"), ("/dev/sdc1", "active sync"), ("/dev/sdb1", "faulty"))
    findings = raid.raid(view("node1", mdadm=degraded))
    assert codes(findings) == {"RAID_DEGRADED": "FAIL"}
    f = findings[0]
    assert f.node == "node1" and "md0" in f.summary and "raid1" in f.summary
    assert "1/2 members active" in f.summary and "/dev/sdb1" in f.summary and "removed" in f.summary
    assert "mdadm /dev/md0 --add" in f.remedy
    # the other node (mdadm not installed, mdstat unreadable) is judged as before: no md finding
    assert "RAID_DEGRADED" not in codes(raid.raid(view("node2")))


def test_clean_array_known_only_from_mdadm_passes():
    clean = mdadm_section(("/dev/md0", up("mdadm-detail-raid1-clean.txt")))
    findings = raid.raid(view("node1", mdadm=clean))
    assert codes(findings) == {"RAID_OK": "PASS"}
    assert "md md0 raid1" in findings[0].summary
    # the same node with no array at all is the RAID_NOT_FOUND warning: the clean array above is what prevents it
    assert codes(raid.raid(view("node1"))) == {"RAID_NOT_FOUND": "WARN"}


def test_an_array_in_both_mdstat_and_mdadm_is_reported_once():
    both = raid.raid(view("node1", mdstat=Section("mdstat", 0, up("mdstat-raid5-failed-member.txt")),
                          mdadm=mdadm_section(("/dev/md0", up("mdadm-detail-raid5-degraded-faulty.txt")))))
    # one finding, from mdstat's view of md0 (its [6/5] [UUUUU_] status), not a second one from mdadm's
    assert [f.code for f in both] == ["RAID_DEGRADED"] and "[UUUUU_]" in both[0].summary
    assert "sdg1" in both[0].summary


def test_an_unreadable_mdadm_detail_is_not_an_array():
    broken = mdadm_section(("/dev/md9", "mdadm: cannot open /dev/md9: No such file or directory"))
    assert codes(raid.raid(view("node1", mdadm=broken))) == {"RAID_NOT_FOUND": "WARN"}


def test_scan_lists_the_arrays_recorded():
    devices = [line.split()[1] for line in up("mdadm-detail-scan.txt").splitlines() if line.startswith("ARRAY ")]
    assert devices == ["/dev/md0", "/dev/md1"]


def _host_mdstat_lists_arrays() -> bool:
    try:
        return bool(re.search(r"^md\d+ :", Path("/proc/mdstat").read_text(), re.M))
    except OSError:
        return False


@pytest.mark.skipif(_host_mdstat_lists_arrays(), reason="this host's /proc/mdstat lists arrays: no fallback")
def test_script_takes_arrays_from_mdadm_scan_when_mdstat_lists_none(tmp_path):
    """The real script, with the lab's recorded mdadm stand-in on PATH (its data directory pointed here)."""
    standin = (LAB_MDADM / "usr/sbin/mdadm").read_text()
    data = LAB_MDADM / "usr/share/axha-lab/mdadm"
    fake = tmp_path / "mdadm"
    fake.write_text(standin.replace("d=/usr/share/axha-lab/mdadm", f"d={data}"))
    fake.chmod(0o755)
    argv = script_argv("mdstat,mdadm", "/dev/vdb", "link0", "", "link1", "", "axigen", "axigen", False, ())
    env = {"PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/sbin:/bin"}
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env).stdout
    s = split_sections(out)["mdadm"]
    assert s.rc == 0 and s.text.startswith("@@md /dev/md0\n/dev/md0:")
    assert codes(raid.raid(view("node1", mdadm=s))) == {"RAID_DEGRADED": "FAIL"}


def test_recorded_degraded_raid_profile_fails_md_on_node1_only():
    """The lab's degraded-raid profile as recorded (record.py, lab instance 5): node1's /proc/mdstat is unreadable,
    its mdadm stand-in lists md0 through --detail --scan; node2 has no mdadm."""
    spec = load_cluster(FIX / "profile-degraded-raid" / "cluster.yaml")
    node1, node2 = (sections("profile-degraded-raid", n) for n in ("node1", "node2"))
    assert node1["mdstat"].rc == 1 and node1["mdadm"].text.startswith("@@md /dev/md0\n/dev/md0:")
    assert node2["mdadm"].rc == 127
    found = raid.raid(NodeView(spec, spec.node("node1"), node1, node2))
    md = [f for f in found if f.code == "RAID_DEGRADED" and f.summary.startswith("md md0 (raid1)")]
    assert len(md) == 1 and md[0].status == "FAIL" and "/dev/sdb1" in md[0].summary
    assert codes(raid.raid(NodeView(spec, spec.node("node2"), node2, node1))) == {"RAID_OK": "PASS"}
