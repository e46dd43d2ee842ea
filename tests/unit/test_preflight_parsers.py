"""Preflight parsers and verdicts on recorded real outputs: every state, PASS and FAIL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from axha.checks import firewall, hardware, mdraid, network, raid, software, storage, system
from axha.checks import fencing as fence
from axha.checks.script import SCRIPT
from axha.checks.view import NodeView
from axha.steps import disk
from axha.steps.sections import Section, split_sections
from axha.steps.spec_load import load_cluster

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
UP = FIX / "upstream"
LAB_PROFILES = Path(__file__).resolve().parents[2] / "lab" / "profiles"


def sections(scenario: str, node: str) -> dict[str, Section]:
    """Every section a node's recorded run printed (a recording may hold several script runs: see record.py)."""
    commands = json.loads((FIX / scenario / f"{node}.json").read_text())["commands"]
    return split_sections("".join((FIX / scenario / c["stdout_file"]).read_text() for c in commands))


def view(scenario: str, node: str, **override) -> NodeView:
    spec = load_cluster(FIX / scenario / "cluster.yaml")
    peer = spec.peer(node).name
    own = {**sections(scenario, node), **override}
    return NodeView(spec, spec.node(node), own, sections(scenario, peer))


def codes(findings) -> dict[str, str]:
    return {f.code: f.status for f in findings}


def up(name: str) -> str:
    return (UP / name).read_text()


# ---------------------------------------------------------------- the script's output


def test_split_sections_reads_every_section_with_its_exit_code():
    s = sections("baseline", "node1")
    assert s["hostname"].text == "node1" and s["hostname"].rc == 0
    assert s["disk_blkid"].rc == 2 and s["disk_blkid"].text == ""  # blkid: nothing found
    assert s["mdadm"].rc == 127 and "not installed" in s["mdadm"].text


def test_split_sections_marks_a_cut_short_section():
    text = (FIX / "baseline" / "node1.out").read_text()
    cut = text[: text.index("@@axha-rc meminfo")]
    assert split_sections(cut)["meminfo"].rc == -1


def test_script_takes_values_as_arguments_never_inside_the_text():
    assert "$DISK" in SCRIPT and "/dev/vdb" not in SCRIPT and "node1" not in SCRIPT


# ---------------------------------------------------------------- CPU and memory


def test_cpu_baseline_passes():
    info = hardware.parse_cpuinfo(sections("baseline", "node1")["cpuinfo"].text)
    assert (info.cores, info.threads, info.mhz) == (8, 16, 2200.0)
    assert "Ryzen 7 1800X" in info.model
    assert codes(hardware.cpu(view("baseline", "node1"))) == {"CPU_OK": "PASS"}


def test_cpu_slow_quad_core_fails_on_its_rated_clock():
    info = hardware.parse_cpuinfo(sections("profile-slow-cpu", "node2")["cpuinfo"].text)
    assert (info.cores, info.threads, info.rated_mhz) == (4, 8, 1600.0)
    assert codes(hardware.cpu(view("profile-slow-cpu", "node2"))) == {"CPU_BELOW_BASELINE": "FAIL"}
    pair = hardware.cpu_pair(view("profile-slow-cpu", "node1"), view("profile-slow-cpu", "node2"))
    assert codes(pair) == {"CPU_MISMATCH": "WARN"}


def test_lscpu_json_fields():
    fields = hardware.parse_lscpu_json(sections("baseline", "node1")["lscpu"].text)
    assert fields["Architecture"] == "x86_64" and "Model name" in fields


def test_memory_pass_and_fail():
    assert hardware.parse_meminfo(sections("profile-low-ram", "node2")["meminfo"].text) == 4039632
    assert codes(hardware.memory(view("baseline", "node2"))) == {"RAM_OK": "PASS"}
    assert codes(hardware.memory(view("profile-low-ram", "node2"))) == {"RAM_BELOW_BASELINE": "FAIL"}
    assert codes(hardware.memory_pair(view("profile-low-ram", "node1"), view("profile-low-ram", "node2"))) == \
        {"RAM_MISMATCH": "WARN"}


# ---------------------------------------------------------------- md RAID


def md_view(mdstat: str, mdadm: str = "") -> NodeView:
    real = sections("baseline", "node1")
    no_tool = real["perccli"]  # "perccli64: not installed", rc 127, as the script prints for any absent CLI
    return view("baseline", "node1", mdstat=Section("mdstat", 0, mdstat),
                mdadm=Section("mdadm", 0 if mdadm else 127, mdadm or "mdadm: not installed"),
                storcli=Section("storcli", 127, no_tool.text.replace("perccli64", "storcli64")))


def test_mdstat_healthy_lab_profile():
    arrays = mdraid.parse_mdstat((LAB_PROFILES / "baseline/node1/proc/mdstat").read_text())
    assert [a.name for a in arrays] == ["md2", "md3", "md1"] and not any(a.degraded for a in arrays)
    assert codes(raid.raid(md_view((LAB_PROFILES / "baseline/node1/proc/mdstat").read_text()))) == {"RAID_OK": "PASS"}


def test_mdstat_degraded_lab_profile():
    text = (LAB_PROFILES / "degraded-raid/node1/proc/mdstat").read_text()
    md3 = [a for a in mdraid.parse_mdstat(text) if a.name == "md3"][0]
    assert md3.degraded and md3.status == "U_" and (md3.raid_disks, md3.working_disks) == (2, 1)
    assert codes(raid.raid(md_view(text))) == {"RAID_DEGRADED": "FAIL"}


def test_mdstat_failed_member_with_mdadm_detail():
    a = mdraid.parse_mdstat(up("mdstat-raid5-failed-member.txt"))[0]
    assert a.level == "raid5" and a.failed_members == ("sdg1",) and a.status == "UUUUU_"
    d = mdraid.parse_mdadm_detail("@@md /dev/md0\n" + up("mdadm-detail-raid5-degraded-faulty.txt"))[0]
    assert d.state_words == ("clean", "degraded") and d.failed_devices == 1
    assert ("/dev/sdg1", "faulty") in d.member_states and ("-", "removed") in d.member_states
    findings = raid.raid(md_view(up("mdstat-raid5-failed-member.txt"), up("mdadm-detail-raid5-degraded-faulty.txt")))
    assert codes(findings) == {"RAID_DEGRADED": "FAIL"} and "sdg1" in findings[0].summary


def test_mdstat_recovery_is_a_rebuild_warning():
    a = mdraid.parse_mdstat(up("mdstat-raid5-recovery.txt"))[0]
    assert (a.action, a.percent, a.finish) == ("recovery", 12.6, "391.3min")
    d = mdraid.parse_mdadm_detail(up("mdadm-detail-raid5-recovering.txt"))[0]
    assert d.device == "/dev/md0" and d.rebuild_status == "12% complete" and "recovering" in d.state_words
    assert codes(raid.raid(md_view(up("mdstat-raid5-recovery.txt"), up("mdadm-detail-raid5-recovering.txt")))) == \
        {"RAID_REBUILDING": "WARN"}


def test_mdstat_initial_resync_warns():
    arrays = {a.name: a for a in mdraid.parse_mdstat(up("mdstat-raid5-resync.txt"))}
    assert arrays["md2"].action == "resync" and arrays["md2"].percent == 1.4 and not arrays["md2"].degraded
    assert codes(raid.raid(md_view(up("mdstat-raid5-resync.txt")))) == {"RAID_RESYNCING": "WARN"}


def test_mdadm_clean():
    d = mdraid.parse_mdadm_detail(up("mdadm-detail-raid1-clean.txt"))[0]
    assert d.state_words == ("clean",) and d.active_devices == 2 and d.failed_devices == 0


def test_no_raid_at_all_is_a_warning_with_an_explanation():
    findings = raid.raid(md_view("Personalities : \nunused devices: <none>\n"))
    assert codes(findings) == {"RAID_NOT_FOUND": "WARN"} and "storcli64" in findings[0].summary


# ---------------------------------------------------------------- hardware RAID


def test_storcli_optimal_and_degraded():
    ok = raid.parse_storcli(sections("baseline", "node1")["storcli"].text)[0]
    assert ok.virtual_drives[0].state == "Optl" and [d.state for d in ok.physical_drives] == ["Onln", "Onln"]
    assert codes(raid.raid(view("baseline", "node1"))) == {"RAID_OK": "PASS"}
    bad = raid.parse_storcli(sections("profile-degraded-raid", "node1")["storcli"].text)[0]
    assert bad.status == "Needs Attention" and bad.virtual_drives[0].state == "Dgrd"
    assert codes(raid.raid(view("profile-degraded-raid", "node1"))) == {"RAID_DEGRADED": "FAIL",
                                                                      "RAID_DRIVE_FAILED": "FAIL"}
    assert codes(raid.raid(view("profile-degraded-raid", "node2"))) == {"RAID_OK": "PASS"}


def test_storcli_failure_status_is_a_tool_error():
    failure = '{"Controllers":[{"Command Status":{"Status":"Failure","Description":"No Controller found"}}]}'
    with pytest.raises(ValueError):
        raid.parse_storcli(failure)


def test_ssacli_ok():
    ctrls = raid.parse_ssacli(up("ssacli-config-ok.txt"))
    assert ctrls[0].status == "OK" and ctrls[0].battery == "OK"
    lds = [d for c in ctrls for d in c.virtual_drives]
    assert [(d.id, d.kind, d.state) for d in lds] == [("1", "RAID 1", "OK"), ("2", "RAID 5", "OK")]
    only_ssacli = view("baseline", "node1", storcli=Section("storcli", 127, "storcli64: not installed"),
                       ssacli=Section("ssacli", 0, up("ssacli-config-ok.txt")))
    assert codes(raid.raid(only_ssacli)) == {"RAID_OK": "PASS"}


def test_ssacli_interim_recovery_mode_fails():
    ctrl = raid.parse_ssacli(up("ssacli-interim-recovery.txt"))[0]
    assert ctrl.virtual_drives[1].state == "Interim Recovery Mode"
    assert [d.state for d in ctrl.physical_drives].count("Failed") == 2
    assert "OK" == ctrl.physical_drives[2].state  # "OK, spare" is a healthy spare
    found = codes(raid._controller_findings(view("baseline", "node1"), ctrl))
    assert found == {"RAID_DEGRADED": "FAIL", "RAID_DRIVE_FAILED": "FAIL"}


def test_ssacli_cache_disabled_on_low_battery_warns():
    ctrl = raid.parse_ssacli(up("ssacli-cache-low-battery.txt"))[0]
    assert ctrl.cache == "Temporarily Disabled"
    assert codes(raid._controller_findings(view("baseline", "node1"), ctrl)) == {"RAID_CACHE": "WARN"}


def test_megacli_degraded_vd_and_rebuilding_drive():
    vd = raid.parse_megacli(up("megacli-ldinfo-degraded.txt"))[0]
    assert vd.virtual_drives[0].state == "Degraded"
    assert codes(raid._controller_findings(view("baseline", "node1"), vd)) == {"RAID_DEGRADED": "FAIL"}
    pd = raid.parse_megacli(up("megacli-pd-rebuild.txt"))[0]
    assert pd.physical_drives[0].state == "Rebuild"
    assert codes(raid._controller_findings(view("baseline", "node1"), pd)) == {"RAID_REBUILDING": "WARN"}


# ---------------------------------------------------------------- network and links


def test_nics_baseline_pass():
    nics = network.nics(view("baseline", "node1"))
    assert nics["link0"].kind == "veth" and nics["link0"].carrier and nics["link0"].mtu == 1500
    assert ("192.168.99.11", 24) in nics["link0"].addresses
    assert codes(network.network(view("baseline", "node1"))) == {"NIC_OK": "PASS"}


def test_one_nic_fails_on_the_node_without_nics():
    assert codes(network.network(view("profile-one-nic", "node1"))) == {
        "NIC_COUNT_LOW": "FAIL", "LINK0_INTERFACE_MISSING": "FAIL", "LINK1_INTERFACE_MISSING": "FAIL"}
    # node2 still has its cards, but nothing at the other end of the cables: no carrier, not missing
    found = codes(network.network(view("profile-one-nic", "node2")))
    assert found["LINK0_NO_CARRIER"] == "FAIL" and "LINK0_INTERFACE_MISSING" not in found


def test_link_set_down_is_named_on_the_node_that_did_it():
    assert codes(network.network(view("link1-down-node2", "node2")))["LINK1_DOWN"] == "FAIL"
    node1 = codes(network.network(view("link1-down-node2", "node1")))
    assert node1 == {"LINK1_NO_CARRIER": "FAIL"}


def test_ping_parsing_both_ways():
    ok = network.parse_ping(sections("baseline", "node1")["ping_link0"].text)
    assert ok.ok and ok.transmitted == 2 and ok.received == 2 and ok.rtt_avg_ms is not None
    lost = network.parse_ping(sections("link1-down-node2", "node1")["ping_link1"].text)
    assert not lost.ok and lost.received == 0
    unreachable = network.parse_ping(sections("link1-down-node2", "node2")["ping_link1"].text)
    assert not unreachable.ok and "unreachable" in unreachable.error
    assert codes(network.links(view("baseline", "node2"))) == {"LINK0_OK": "PASS", "LINK1_OK": "PASS"}
    assert codes(network.links(view("link1-down-node2", "node1"))) == {"LINK0_OK": "PASS",
                                                                  "LINK1_PEER_UNREACHABLE": "FAIL"}


def test_mtu_compared_at_both_ends():
    assert codes(network.links_pair(view("baseline", "node1"), view("baseline", "node2"))) == {
        "LINK0_MTU_SAME": "PASS", "LINK1_MTU_SAME": "PASS"}
    text = sections("baseline", "node2")["nics"].text.replace("link0 carrier=1 speed=10000 mtu=1500",
                                                               "link0 carrier=1 speed=10000 mtu=9000")
    b = view("baseline", "node2", nics=Section("nics", 0, text))
    assert codes(network.links_pair(view("baseline", "node1"), b))["LINK0_MTU_MISMATCH"] == "FAIL"


# ---------------------------------------------------------------- fencing


def test_fence_ipmilan_outputs():
    ok = sections("baseline", "node2")["fence_peer"]
    assert fence.parse_fence_status(ok.text, ok.rc) == fence.FenceStatus("on")
    wrong = sections("bmc1-wrong-password", "node2")["fence_peer"]
    assert fence.parse_fence_status(wrong.text, wrong.rc).problem == "auth"
    stopped = sections("bmc1-stopped", "node2")["fence_peer"]
    assert fence.parse_fence_status(stopped.text, stopped.rc).problem == "timeout"


def test_fencing_verdicts_name_the_node_whose_bmc_fails():
    def fencing(scenario, node, bmc):
        return codes(fence.fencing(NodeView(**{**view(scenario, node).__dict__, "bmc_local": bmc})))

    from axha.steps.bmc import BmcAuthError, BmcUnreachable
    assert fencing("baseline", "node1", ("on", None)) == {"BMC_OK": "PASS", "FENCE_AGENT_OK": "PASS"}
    assert fencing("bmc1-wrong-password", "node1", (None, BmcAuthError("the BMC refused the password"))) == {
        "BMC_AUTH_FAILED": "FAIL", "FENCE_AGENT_AUTH_FAILED": "FAIL"}
    assert fencing("bmc1-stopped", "node1", (None, BmcUnreachable("no answer from the BMC within 10 s"))) == {
        "BMC_TIMEOUT": "FAIL", "FENCE_AGENT_TIMEOUT": "FAIL"}
    assert fencing("bmc1-stopped", "node2", ("on", None)) == {"BMC_OK": "PASS", "FENCE_AGENT_OK": "PASS"}
    # issue 11: a message that merely mentions a password is not a refused login (it was labelled BMC_AUTH_FAILED)
    from axha.steps.bmc import BmcError
    from axha.steps.errors import InputError
    other = fencing("bmc1-stopped", "node1", (None, BmcError("the BMC at x failed: password change required")))
    assert other["BMC_ERROR"] == "FAIL" and "BMC_AUTH_FAILED" not in other
    unreadable = fencing("bmc1-stopped", "node1", (None, InputError("cannot read the BMC password file x")))
    assert unreadable["BMC_NO_PASSWORD"] == "FAIL" and "BMC_AUTH_FAILED" not in unreadable


def test_bmc_on_a_cluster_link_subnet_warns():
    base = view("baseline", "node1")
    from dataclasses import replace
    node = replace(base.node, bmc=replace(base.node.bmc, address="192.168.99.201"))
    found = codes(fence._bmc_subnet(NodeView(base.spec, node, base.sections)))
    assert found == {"BMC_ON_CLUSTER_SUBNET": "WARN"}
    assert fence._bmc_subnet(base) == []


# ---------------------------------------------------------------- storage


def test_empty_backing_disk_passes():
    s = sections("baseline", "node1")
    dev = disk.parse_lsblk(s["disk_lsblk"].text)
    assert dev.size == 1 << 30 and dev.fstype is None and dev.kname.startswith("loop")
    assert disk.parse_blkid_export(s["disk_blkid"].text, s["disk_blkid"].rc) == {}
    assert disk.parse_wipefs_json(s["disk_wipefs"].text) == ()
    assert disk.parse_head_checksum(s["disk_head"].text) == storage.ZERO_1M_SHA256
    assert codes(storage.storage(view("baseline", "node1"))) == {"DISK_OK": "PASS"}
    assert codes(storage.storage_pair(view("baseline", "node1"), view("baseline", "node2"))) == {"DISK_SIZE_SAME": "PASS"}


def test_disk_with_a_filesystem_fails_on_that_node_only():
    s = sections("disk2-ext4", "node2")
    assert disk.parse_blkid_export(s["disk_blkid"].text, s["disk_blkid"].rc)["TYPE"] == "ext4"
    assert disk.parse_wipefs_json(s["disk_wipefs"].text)[0].type == "ext4"
    findings = storage.storage(view("disk2-ext4", "node2"))
    assert codes(findings) == {"DISK_HAS_FILESYSTEM": "FAIL"} and "wipefs -a /dev/vdb" in findings[0].remedy
    assert codes(storage.storage(view("disk2-ext4", "node1"))) == {"DISK_OK": "PASS"}


def test_shared_device_seen_by_both_nodes():
    a, b = view("shared", "node1"), view("shared", "node2")
    assert storage.disk_facts(a).ids["loop_backing_file"] == storage.disk_facts(b).ids["loop_backing_file"]
    assert codes(storage.storage_pair(a, b)) == {"SHARED_DEVICE_SAME": "PASS"}
    other = Section("disk_ids", 0, "loop_backing_file=/var/lib/axha-lab/7/other.img")
    assert codes(storage.storage_pair(a, view("shared", "node2", disk_ids=other))) == {"SHARED_DEVICE_DIFFERENT": "FAIL"}


# ---------------------------------------------------------------- software, time, names, firewall


def test_software_and_axigen():
    s = sections("baseline", "node1")
    pkgs = software.parse_dpkg_query(s["packages"].text)
    assert pkgs["pacemaker"].installed and pkgs["axigen"].version == "10.5.0"
    assert software.parse_os_release(s["os_release"].text)["VERSION_ID"] == "12"
    assert software.parse_drbd_module(s["drbd_module"].text, s["drbd_module"].rc) == "9.2.2"
    assert codes(software.software(view("baseline", "node1"))) == {"OS_SUPPORTED": "PASS", "SOFTWARE_OK": "PASS"}
    assert codes(software.axigen(view("baseline", "node1"))) == {"AXIGEN_OK": "PASS"}
    assert codes(software.axigen_pair(view("baseline", "node1"), view("baseline", "node2"))) == {
        "AXIGEN_SAME_VERSION": "PASS"}
    enabled = Section("axigen_enabled", 0, "enabled")
    assert codes(software.axigen(view("baseline", "node1", axigen_enabled=enabled)))["AXIGEN_ENABLED_AT_BOOT"] == "FAIL"


def test_apt_policy_installable_versus_missing():
    text = "corosync:\n  Installed: (none)\n  Candidate: 3.1.7-1+deb12u2\n  Version table:\n"
    assert software.parse_apt_policy(text) == {"corosync": (None, "3.1.7-1+deb12u2")}


def test_time_sync_states():
    assert system.parse_chrony_tracking(up("chronyc-tracking-normal.txt"), 0).synced is True
    assert system.parse_chrony_tracking(up("chronyc-tracking-not-synchronised.txt"), 0).synced is False
    synced = view("baseline", "node1", timesync=Section("timesync", 0, up("chronyc-tracking-normal.txt")))
    assert codes(system.time_sync(synced)) == {"TIME_SYNCED": "PASS"}
    unsynced = view("baseline", "node1",
                    timesync=Section("timesync", 0, up("chronyc-tracking-not-synchronised.txt")))
    assert codes(system.time_sync(unsynced)) == {"TIME_NOT_SYNCED": "WARN"}
    assert codes(system.time_sync(view("baseline", "node1"))) == {"TIME_SYNC_UNKNOWN": "WARN"}


def test_clock_skew():
    a, b = view("baseline", "node1"), view("baseline", "node2")
    a.clock_offset, b.clock_offset = 0.010, 0.020
    assert codes(system.time_pair(a, b)) == {"CLOCK_OK": "PASS"}
    b.clock_offset = 1.6
    assert codes(system.time_pair(a, b)) == {"CLOCK_SKEW": "FAIL"}


def test_names():
    assert system.parse_getent_hosts(sections("baseline", "node1")["getent"].text) == {
        "node1": "192.168.98.11", "node2": "192.168.98.12"}
    assert codes(system.names(view("baseline", "node1"))) == {"NAMES_OK": "PASS"}
    wrong = view("baseline", "node1", hostname=Section("hostname", 0, "mail1"))
    assert codes(system.names(wrong)) == {"HOSTNAME_MISMATCH": "FAIL"}
    other = view("baseline", "node2", getent=Section("getent", 0, "192.168.98.11   node1\n10.0.0.12   node2"))
    assert codes(system.names_pair(view("baseline", "node1"), other)) == {"NAMES_DIFFER": "FAIL"}


def test_firewall_open_allowing_and_blocking():
    assert codes(firewall.firewall(view("baseline", "node1"))) == {"FIREWALL_OPEN": "PASS"}
    allows = firewall.parse_nft_json(up("nft-drop-policy-allows.json"))
    assert allows.filtering and allows.allows("udp", 5406) and allows.allows("tcp", 143)
    assert not allows.allows("tcp", 8080)
    assert codes(firewall.firewall(view("baseline", "node1", nft=Section("nft", 0, up("nft-drop-policy-allows.json"))))) \
        == {"FIREWALL_ALLOWS": "PASS"}
    blocked = firewall.firewall(view("baseline", "node1", nft=Section("nft", 0, up("nft-drop-policy-ssh-only.json"))))
    assert codes(blocked) == {"FIREWALL_BLOCKS": "FAIL"} and "udp/5405" in blocked[0].summary



def test_missing_but_installable_package_warns_on_that_node():
    s = sections("node2-no-resource-agents", "node2")
    assert not software.parse_dpkg_query(s["packages"].text)["resource-agents"].installed  # "rc": removed, config kept
    assert software.parse_apt_policy(s["apt_policy"].text)["resource-agents"][0] is None
    assert codes(software.software(view("node2-no-resource-agents", "node2"))) == {
        "OS_SUPPORTED": "PASS", "PACKAGE_MISSING": "WARN"}
    assert codes(software.software(view("node2-no-resource-agents", "node1")))["SOFTWARE_OK"] == "PASS"
    # the same node with no repository offering it: a FAIL (nothing axha could install)
    none = Section("apt_policy", 0, "")
    assert codes(software.software(view("node2-no-resource-agents", "node2", apt_policy=none)))["PACKAGE_UNAVAILABLE"] == \
        "FAIL"
