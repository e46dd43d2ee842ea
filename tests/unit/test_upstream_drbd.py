"""steps.drbd_events' events2 fold and status error against their independent readings (tests/fixtures/upstream/SOURCES.md).

events2: every golden file here (drbd-utils' tests/v9 outputs of drbdsetup's own events2 printer, and lab
recordings), and with a drbd-utils checkout at hand (AXHA_UPSTREAM) every events2-*.test of 9.22.0 and HEAD, is
folded twice: by Events2State, and here by the plainest reading of the format (drbdsetup.c print_event(): each
line sets the named object's key:value pairs, `destroy` removes the object) keeping each key's last value.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from axha.steps.drbd_events import parse_events2
from axha.steps.maint.drbdstate import parse_drbd_status, status_error

FIX = Path(__file__).resolve().parents[1] / "fixtures"
VERBS = {"exists", "create", "change", "destroy"}


def fold(lines: list[str]) -> dict[tuple, dict[str, str]]:
    """Last value of every key of every object; an object is (type, its identifying keys)."""
    ident = {"resource": ("name",), "device": ("name", "volume"), "connection": ("name", "peer-node-id"),
             "peer-device": ("name", "peer-node-id", "volume"), "path": ("name", "peer-node-id", "local", "peer")}
    objects: dict[tuple, dict[str, str]] = {}
    for line in lines:
        words = line.split()
        if words and re.match(r"^\d{4}-\d\d-\d\dT", words[0]):
            words = words[1:]
        if len(words) < 3 or words[0] not in VERBS or words[1] not in ident:
            continue
        fields = dict(w.split(":", 1) for w in words[2:])
        key = (words[1],) + tuple(fields.get(k, "0" if k == "volume" else "") for k in ident[words[1]])
        if words[0] == "destroy":
            objects.pop(key, None)
        else:
            objects.setdefault(key, {}).update(fields)
    return objects


def disagreements(lines: list[str]) -> list[str]:
    objects = fold(lines)
    state = parse_events2("\n".join(lines))
    out = []
    for key, fields in objects.items():
        kind, name = key[0], key[1]
        res = state.resource(name)
        if res is None:
            if ("resource", name) in objects:
                out.append(f"{name}: resource missing from the fold of Events2State")
            continue
        if kind == "resource":
            got = {"role": res.role, "suspended": "no" if not res.suspended else fields.get("suspended")}
            if "may_promote" in fields:
                got["may_promote"] = "yes" if res.may_promote else "no"
            if "promotion_score" in fields:
                got["promotion_score"] = str(res.promotion_score)
        elif kind == "device":
            dev = res.device(int(key[2]))
            got = {"disk": dev.disk if dev else None, "minor": str(dev.minor) if dev else None}
        elif kind == "connection":
            conn = next((c for c in res.connections if c.peer_node_id == int(key[2])), None)
            got = {"connection": conn.connection if conn else None, "role": conn.peer_role if conn else None}
        elif kind == "peer-device":
            conn = next((c for c in res.connections if c.peer_node_id == int(key[2])), None)
            pd = conn.peer_device(int(key[3])) if conn else None
            got = {"replication": pd.replication if pd else None, "peer-disk": pd.peer_disk if pd else None}
        else:
            conn = next((c for c in res.connections if c.peer_node_id == int(key[2])), None)
            path = next((p for p in conn.paths if (p.local, p.peer) == key[3:]), None) if conn else None
            got = {"established": ("yes" if path.established else "no") if path else None}
        want = {k: fields.get(k) for k in got if k in fields}
        if {k: got[k] for k in want} != want:
            out.append(f"{key}: Events2State {got}, last values {want}")
    return out


def golden_blocks(text: str) -> list[list[str]]:
    """The output blocks of a drbd-utils .test file (`$ command` lines start each; the exit code ends it). Blocks
    of `--diff` (old->new values) are left out: axha never asks for that form (steps/drbd_argv.py events2_*_argv)."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith("$ "):
            current = []
            if "--diff" not in line:
                blocks.append(current)
        elif current is not None:
            current.append(line)
    return blocks if current is not None else [text.splitlines()]


LOCAL = sorted((FIX / "drbd").glob("events2-*.test")) + sorted((FIX / "drbd-real").glob("events2-*.txt"))


@pytest.mark.parametrize("path", LOCAL, ids=[p.name for p in LOCAL])
def test_events2_sweep_against_a_last_value_fold(path):
    blocks = golden_blocks(path.read_text())
    assert any(line.split()[:1] and line.split()[0] in VERBS for block in blocks for line in block)
    for block in blocks:
        assert disagreements(block) == []


def _drbd_utils() -> Path | None:
    base = Path(os.environ.get("AXHA_UPSTREAM") or "/work/.mirror")
    for candidate in (base / "LINBIT+drbd-utils" / "repo", base / "LINBIT+drbd-utils"):
        if (candidate / "HEAD").exists() or (candidate / ".git").exists():
            return candidate
    return None


DRBD_UTILS = _drbd_utils()


@pytest.mark.skipif(DRBD_UTILS is None, reason="no LINBIT/drbd-utils checkout (AXHA_UPSTREAM, SOURCES.md)")
@pytest.mark.parametrize("tag", ["v9.22.0", "HEAD"])
def test_events2_sweep_drbd_utils_golden_files(tag):
    git = ["git", "-C", str(DRBD_UTILS)]
    names = [n for n in subprocess.run(git + ["ls-tree", "--name-only", f"{tag}:tests/v9"], capture_output=True,
                                       text=True, check=True).stdout.split()
             if n.startswith("events2") and n.endswith(".test")]
    assert len(names) >= 4
    for name in names:
        text = subprocess.run(git + ["show", f"{tag}:tests/v9/{name}"], capture_output=True, text=True,
                              check=True).stdout
        for block in golden_blocks(text):
            assert disagreements(block) == [], name


# ---------------------------------------------------------------- drbdsetup status RES --json of a down resource


def down_resource_output(order: str) -> str:
    """What `drbdsetup status axigen --json 2>&1` prints when axigen is not up: status_cmd() puts "[" and "]\\n"
    on stdout around no resource and "axigen: No such resource" on stderr, exit 10 (drbd-utils v9.22.0
    user/v9/drbdsetup.c lines 3215-3275). stderr is unbuffered and stdout a pipe, so the message comes first
    unless stdout was flushed earlier."""
    stdout, stderr = "[\n]\n\n", "axigen: No such resource\n"
    return stderr + stdout if order == "stderr-first" else stdout + stderr


@pytest.mark.parametrize("order", ["stderr-first", "stdout-first"])
def test_minor_down_resource_error_is_the_message_not_a_bracket(order):
    text = down_resource_output(order)
    error = status_error(text, 10)
    assert "No such resource" in error and "not up" in error and error != "]"


def test_status_error_of_other_failures():
    assert status_error("", 20) == "drbdsetup exited 20"
    assert status_error("Could not connect to 'drbd' generic netlink family\n", 20).startswith("Could not connect")


def test_status_json_recorded_still_reads():
    res = parse_drbd_status((FIX / "drbd-real" / "status-json-beijing.json").read_text(), "beijing")
    assert res is not None and res.disk
