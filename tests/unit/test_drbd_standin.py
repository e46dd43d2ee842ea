"""The DRBD stand-in's printers against drbd-utils' own golden files and real recorded output (tests/fixtures/drbd)."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab/rootfs/usr/lib/axha-lab-drbd"))

from drbdstandin import formats, meta  # noqa: E402

FIX = REPO / "tests/fixtures/drbd"
# a real `drbdsetup status --json` recording kept by the steps/drbd_status.py tests (see its SOURCES.md)
REAL_JSON = REPO / "tests/fixtures/drbd-real/status-json-beijing.json"


def golden_block(test_file: str, command_suffix: str) -> list[str]:
    """The expected output lines of one `$ cat X.msgs | drbdsetup_events2_instrumented SUFFIX; echo $?` block."""
    text = (FIX / test_file).read_text()
    blocks = re.split(r"^\$ ", text, flags=re.M)
    for block in blocks:
        head, _, body = block.partition("\n")
        if head.endswith(f"drbdsetup_events2_instrumented{command_suffix}; echo $?"):
            lines = body.rstrip("\n").split("\n")
            assert lines[-1] == "0"
            return lines[:-1]
    raise AssertionError(f"no block {command_suffix!r} in {test_file}")


# The objects the instrumented upstream test creates (drbdsetup_events2_instrumented.c), as stand-in snapshots.
def base_resource() -> dict:
    return {"name": "some-resource", "node_id": 0, "role": "Secondary", "write_ordering": "none",
            "devices": [{"volume": 0, "minor": 1000, "disk": "Diskless", "client": False, "quorum": True,
                         "backing_dev": "", "size": 10, "read": 20, "written": 30, "al_writes": 40,
                         "bm_writes": 50, "upper_pending": 60, "lower_pending": 70}],
            "connections": [{"peer_node_id": 1, "name": "some-peer", "cstate": "StandAlone", "role": "Unknown",
                             "congested": False, "ap_in_flight": 10, "rs_in_flight": 20,
                             "peer_devices": [{"volume": 0, "repl": "Off", "peer_disk": "DUnknown",
                                               "received": 10, "sent": 20, "pending": 30, "unacked": 40,
                                               "out_of_sync": 0, "rs_total": 0, "rs_dt1_ms": 0,
                                               "rs_db1_sectors": 0}],
                             "paths": [{"local": "ipv4:1.2.3.4:7789", "peer": "ipv4:5.6.7.8:7790",
                                        "established": False}]}]}


def sync_steps() -> list[dict]:
    """events2-sync.msgs: device_change, path_change_established, connection_change_connection,
    peer_device_change_sync."""
    steps = []
    cur = base_resource()
    cur = copy.deepcopy(cur)
    cur["devices"][0].update(disk="UpToDate", backing_dev="/dev/sda")
    steps.append(cur)
    cur = copy.deepcopy(cur)
    cur["connections"][0]["paths"][0]["established"] = True
    steps.append(cur)
    cur = copy.deepcopy(cur)
    cur["connections"][0].update(cstate="Connected", role="Secondary")
    steps.append(cur)
    cur = copy.deepcopy(cur)
    cur["connections"][0]["peer_devices"][0].update(repl="SyncSource", peer_disk="Inconsistent", out_of_sync=5000,
                                                    rs_total=8000, rs_dt1_ms=100, rs_db1_sectors=50)
    steps.append(cur)
    return steps


def creation_steps() -> list[dict]:
    """resource_create, device_create, connection_create, peer_device_create, path_create: one object per
    netlink message, as the instrumented test sends them (the kernel's own initial dump is one batch)."""
    full = base_resource()
    res = dict(full, devices=[], connections=[])
    with_dev = dict(res, devices=full["devices"])
    conn = dict(full["connections"][0], peer_devices=[], paths=[])
    with_conn = dict(with_dev, connections=[conn])
    with_pd = dict(with_dev, connections=[dict(conn, peer_devices=full["connections"][0]["peer_devices"])])
    return [res, with_dev, with_conn, with_pd, full]


def replay(steps: list[dict], opts: formats.Opts) -> list[str]:
    out = ["exists -"]
    old = None
    for snap in creation_steps() + steps:
        out += formats.print_changes(old, snap, opts, action="create").splitlines()
        old = snap
    return out


@pytest.mark.parametrize("suffix,opts", [
    ("", formats.Opts()),
    (" --statistics", formats.Opts(verbose=1, statistics=True)),
])
def test_events2_sync_matches_drbd_utils_golden(suffix, opts):
    assert replay(sync_steps(), opts) == golden_block("events2-sync.test", suffix)


def test_events2_create_destroy_matches_golden():
    lines = replay([], formats.Opts())
    lines += formats.print_changes(base_resource(), None, formats.Opts()).splitlines()
    assert lines == golden_block("events2-all-create-destroy.test", "")


def test_events2_helper_lines_match_golden():
    expected = golden_block("events2-all-create-helper.test", "")[-2:]
    got = [formats.helper_line("", False, "some-resource", "before-resync-target", 1, "some-peer", 0).rstrip(),
           formats.helper_line("", True, "some-resource", "before-resync-target", 1, "some-peer", 0,
                               status=1).rstrip()]
    assert got == expected


def test_events2_now_exists_lines_are_the_create_lines_with_exists():
    snap = base_resource()
    create = formats.print_changes(None, snap, formats.Opts(), action="create").splitlines()
    exists = formats.print_changes(None, snap, formats.Opts(), action="exists").splitlines()
    assert [line.replace("create ", "exists ", 1) for line in create] == exists


def test_promotion_score_of_connected_uptodate_pair():
    snap = copy.deepcopy(sync_steps()[-1])
    snap["connections"][0]["peer_devices"][0].update(repl="Established", peer_disk="UpToDate")
    assert formats.promotion_info(snap) == (True, 10102)  # golden events2-all-create-change: 10102
    snap["role"] = "Primary"
    assert formats.promotion_info(snap) == (False, 10102)


def json_key_order(obj, path="") -> list[str]:
    keys = []
    if isinstance(obj, list) and obj:
        keys += json_key_order(obj[0], path + "[]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            keys.append(path + "/" + key)
            keys += json_key_order(value, path + "/" + key)
    return keys


def connected_snapshot() -> dict:
    snap = copy.deepcopy(sync_steps()[-1])
    snap["connections"][0]["peer_devices"][0].update(repl="Established", peer_disk="UpToDate", out_of_sync=0,
                                                     rs_total=0)
    return snap


def test_status_json_has_the_real_keys_in_the_real_order():
    real = json.loads(REAL_JSON.read_text())
    mine = json.loads(formats.status_json([connected_snapshot()]))
    real_keys, my_keys = json_key_order(real), json_key_order(mine)
    # drbd-utils 9.22 added suspended-*/force-io-failures to the resource; everything the older real
    # recording has must appear, in the same order
    it = iter(my_keys)
    assert all(k in it for k in real_keys), (real_keys, my_keys)
    assert set(my_keys) - set(real_keys) == {"[]/suspended-user", "[]/suspended-no-data", "[]/suspended-fencing",
                                             "[]/suspended-quorum", "[]/force-io-failures"}


def test_status_json_layout_is_byte_compatible_with_real_output():
    """Whitespace too: the real file's device and connection blocks appear verbatim modulo values."""
    real = REAL_JSON.read_text()
    mine = formats.status_json([connected_snapshot()])
    # values differ; drbd-utils 9.22 also prints a space after the connection-state comma (9.6 did not)
    def shape(text: str) -> str:
        text = re.sub(r'": ("[^"]*"|[-0-9.]+|true|false)', '": V', text)
        return "\n".join(line.rstrip() for line in text.splitlines())
    real_dev = shape(real[real.index('  "devices"'):])
    mine_dev = shape(mine[mine.index('  "devices"'):])
    assert mine_dev.rstrip() == real_dev.rstrip()


def test_status_json_during_sync_has_sync_details():
    snap = sync_steps()[-1]
    pd = json.loads(formats.status_json([snap]))[0]["connections"][0]["peer_devices"][0]
    assert pd["has-sync-details"] is True
    assert pd["percent-resync-done"] == 37.5
    assert pd["estimated-seconds-to-finish"] == 10
    assert pd["out-of-sync"] == 2500


# `drbdsetup status` text: drbd-utils has no golden file for it, so these expectations follow drbdsetup.c 9.22
# (resource_status, device_status, connection_status, peer_device_status; fixtures/drbd/SOURCES.md).
def test_status_text_synctarget_and_diskless_peer():
    snap = {"name": "r0", "node_id": 0, "role": "Secondary",
            "devices": [{"volume": 0, "minor": 1000, "disk": "Inconsistent", "size": 4194304}],
            "connections": [
                {"peer_node_id": 1, "name": "node2", "cstate": "Connected", "role": "Secondary",
                 "peer_devices": [{"volume": 0, "repl": "SyncTarget", "peer_disk": "UpToDate",
                                   "out_of_sync": 3380634, "rs_total": 4194304}]},
                {"peer_node_id": 2, "name": "node3", "cstate": "Connected", "role": "Secondary",
                 "peer_devices": [{"volume": 0, "repl": "Established", "peer_disk": "Diskless",
                                   "peer_client": True}]}]}
    on_tty = formats.status_text([snap], formats.Opts(tty=True))
    assert on_tty == ("r0 role:Secondary\n"
                      "  disk:Inconsistent\n"
                      "  node2 role:Secondary\n"
                      "    replication:SyncTarget peer-disk:UpToDate done:19.40\n"
                      "  node3 role:Secondary\n"
                      "    peer-disk:Diskless\n"
                      "\n")
    piped = formats.status_text([snap], formats.Opts(tty=False))
    assert "    peer-disk:Diskless peer-client:yes\n" in piped


def test_status_text_connecting_and_no_resources():
    snap = {"name": "r1", "node_id": 0, "role": "Primary",
            "devices": [{"volume": 0, "minor": 0, "disk": "UpToDate", "size": 1000}],
            "connections": [{"peer_node_id": 1, "name": "b", "cstate": "Connecting", "role": "Unknown",
                             "peer_devices": [{"volume": 0, "repl": "Off", "peer_disk": "DUnknown"}]}]}
    assert formats.status_text([snap], formats.Opts()) == ("r1 role:Primary\n  disk:UpToDate\n"
                                                           "  b connection:Connecting\n\n")
    assert formats.status_text([], formats.Opts()) == "# No currently configured DRBD found.\n"


def test_status_text_wraps_at_80_columns_like_wrap_printf():
    snap = copy.deepcopy(sync_steps()[-1])
    text = formats.status_text([snap], formats.Opts(verbose=1, statistics=True))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # a wrapped continuation keeps the object's indent (6 for device statistics, 8 for peer-device ones)
    assert "      lower-pending:70 al-suspended:no blocked:no" in lines or \
        any(line.startswith("      ") and "lower-pending:70" in line for line in lines)
    assert lines[-2].startswith("        ") and "eta:10" in lines[-2]


def test_uuid_compare_directions():
    a = meta.fresh_md(0)
    b = meta.fresh_md(1)
    assert meta.uuid_compare(a, b)[0] == 0
    a["current"] = meta.new_uuid()
    assert meta.uuid_compare(a, b)[0] == 2 and meta.uuid_compare(b, a)[0] == -2
    b["current"] = a["current"]
    assert meta.uuid_compare(a, b)[0] == 0
    meta.rotate_current(a, keep_bitmap=True)  # a was Primary and lost the peer: new generation
    assert meta.uuid_compare(a, b)[0] == 1 and meta.uuid_compare(b, a)[0] == -1
    meta.rotate_current(b, keep_bitmap=True)  # b wrote on its own too: split brain
    assert meta.uuid_compare(a, b)[0] == 100 and meta.uuid_compare(b, a)[0] == 100
    c = meta.fresh_md(2)
    c["current"] = meta.new_uuid()
    assert meta.uuid_compare(a, c)[0] == -1000


def test_the_engine_parsers_read_the_stand_in_output():
    """steps/drbd_status.py and drbd_events.py (what the wizard reads in the lab) understand what the stand-in
    prints."""
    from axha.steps import drbd_events, drbd_status

    snap = sync_steps()[-1]
    res = drbd_status.find_resource(drbd_status.parse_status_json(formats.status_json([snap])), "some-resource")
    pd = res.connection().peer_device(0)
    assert (res.role, res.device(0).disk, pd.replication, pd.peer_disk) == \
        ("Secondary", "UpToDate", "SyncSource", "Inconsistent")
    assert pd.out_of_sync_kib == 2500 and pd.done == 37.5
    events = "\n".join(replay(sync_steps(), formats.Opts(verbose=1, statistics=True)))
    state = drbd_events.parse_events2(events).resource("some-resource")
    conn = state.connection()
    assert conn.connection == "Connected" and conn.peer_device(0).replication == "SyncSource"
    assert conn.peer_device(0).done == 37.5 and [p.established for p in conn.paths] == [True]


def test_every_command_drbdadm_passes_is_known_to_the_stand_in():
    """Each drbdsetup/drbdmeta line of the recorded `drbdadm -d` runs names a command the stand-in implements."""
    from drbdstandin import cli

    lines = [ln.split() for ln in (FIX / "drbdadm-dry-run.txt").read_text().splitlines()
             if ln.startswith(("drbdsetup ", "drbdmeta "))]
    assert len(lines) > 20
    for words in lines:
        if words[0] == "drbdsetup":
            assert words[1] in cli.DRBDSETUP_COMMANDS, words
        else:
            command = [w for w in words[1:] if not w.startswith("-")][4]
            assert command in cli.DRBDMETA_COMMANDS, words
    assert cli.split_opts(["axigen", "1", "--_name=node2", "--fencing=resource-and-stonith", "--protocol=C"]) == \
        (["axigen", "1"], {"_name": "node2", "fencing": "resource-and-stonith", "protocol": "C"})


def test_metadata_is_bound_to_the_backing_disk_as_blkid_sees_it(tmp_path, monkeypatch, capsys):
    """The stand-in's metadata counts only while its disk carries DRBD 9's superblock (lab/drbd/README.md): the
    real blkid reads what create-md wrote as TYPE="drbd" VERSION="v09", and a wiped disk has no metadata left."""
    import shutil
    import subprocess

    from drbdstandin import cli

    disk = tmp_path / "vdb"
    disk.write_bytes(b"\0" * (4 << 20))   # libblkid 2.38 finds no drbd on a 1 MiB image; DRBD disks are larger
    monkeypatch.setattr(cli, "cfg", lambda: {"state_dir": str(tmp_path / "state"), "run_dir": str(tmp_path / "run"),
                                            "sync_rate_kib": 51200})
    args = ["0", "v09", str(disk), "internal"]
    assert cli.drbdmeta([*args, "dump-md"]) == 255                     # a blank disk: no metadata
    assert cli.drbdmeta([*args, "create-md", "1"]) == 0
    assert cli.drbdmeta([*args, "dump-md"]) == 0
    if shutil.which("blkid"):
        probe = subprocess.run(["blkid", "-p", "-o", "export", str(disk)], capture_output=True, text=True)
        assert "TYPE=drbd" in probe.stdout and "VERSION=v09" in probe.stdout, probe.stdout + probe.stderr
    data = bytearray(disk.read_bytes())
    data[-4096:] = b"\0" * 4096                                        # the disk replaced (or wiped)
    disk.write_bytes(bytes(data))
    capsys.readouterr()
    assert cli.drbdmeta([*args, "dump-md"]) == 255
    assert "No valid meta data found" in capsys.readouterr().err
    assert cli.drbdmeta([*args, "create-md", "--force", "1"]) == 0 and cli.drbdmeta([*args, "dump-md"]) == 0
    assert cli.drbdmeta([*args, "wipe-md"]) == 0 and meta.read_signature(str(disk)) is None
