"""Pacemaker's own readings of a CIB, for the sweep tests (tests/fixtures/upstream/SOURCES.md).

crm_mon is run with CIB_file= on a CIB (no cluster needed) twice: `--output-as=xml` for the parser, and its
text view, which is Pacemaker's own human reading of the same state; the CIB's status section is the third,
raw, reading (which history entry failed, on which resource). Outputs are cached by the CIB's hash and the
crm_mon version, so a sweep costs crm_mon's time once per machine.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

CRM_MON = shutil.which("crm_mon")


def _cache_dir() -> Path:
    base = os.environ.get("AXHA_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "axha-tests")
    return Path(base) / "crm_mon"


_VERSION: list[str] = []


def crm_mon_version() -> str:
    if not _VERSION:
        out = subprocess.run([CRM_MON, "--version"], capture_output=True, text=True, timeout=30).stdout
        _VERSION.append(out.splitlines()[0].strip() if out.strip() else "unknown")
    return _VERSION[0]


def run_crm_mon(cib: bytes, text: bool = False) -> tuple[int, str]:
    """(rc, output) of `crm_mon -1 --inactive [--output-as=xml]` on this CIB; cached."""
    if CRM_MON is None:
        raise AssertionError("crm_mon is not installed: ./run deps installs pacemaker-cli-utils")
    mode = "text-L" if text else "xml"
    key = hashlib.sha256(cib + crm_mon_version().encode() + mode.encode()).hexdigest()
    cache = _cache_dir() / key[:2] / key
    if cache.exists():
        rc, _, out = cache.read_text().partition("\n")
        return int(rc), out
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(cib)
        f.flush()
        # the text view with the bans section, as the XML has it by default: only then does crm_mon unpack the
        # constraints (lib/pacemaker/pcmk_status.c, Pacemaker-2.1.5 lines 137-142), and a revoked ticket's
        # loss-policy=fence, say, makes a node unclean in both views alike
        argv = [CRM_MON, "-1", "--inactive"] + (["--neg-locations"] if text else ["--output-as=xml"])
        env = {**os.environ, "CIB_file": f.name, "LC_ALL": "C", "TZ": "UTC"}
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(f"{res.returncode}\n{res.stdout}")
        tmp.replace(cache)
    except OSError:
        pass
    return res.returncode, res.stdout


# ---------------------------------------------------------------- crm_mon's text view

# node_text() / node_text_status() of lib/pengine/pe_output.c (Pacemaker-2.1.5 a3f44794f9 lines 1595-1700):
# `* Node NAME: STATUS` for a node not simply online/offline, `* Online: [ ... ]` / `* OFFLINE: [ ... ]`
# (and Remote/Guest variants) for the rest (node_list_text(), lines 2218-2320)
_NODE_LINE = re.compile(r"^\s*\* (?:Remote|Guest)?Node (\S+?)(?: \([^)]*\))?: (.+)$")
_NODE_GROUP = re.compile(r"^\s*\* (Online|OFFLINE|RemoteOnline|RemoteOFFLINE|GuestOnline): \[ (.*) \]$")


def text_word(status: str) -> str:
    """node_text_status()'s text -> the admin word NodeStatus.state uses."""
    if status.startswith("UNCLEAN"):
        return "unclean"
    if status.startswith("OFFLINE"):
        return "offline"
    for word in ("pending", "standby", "maintenance", "online"):
        if status.startswith(word):
            return word
    raise AssertionError(f"unknown node status text {status!r}")


def text_node_states(text: str) -> dict[str, str]:
    """{node name: word} from the `Node List:` section of crm_mon's text output."""
    out: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("Node List:"):
            inside = True
            continue
        if inside and not line.strip():
            break
        if not inside:
            continue
        if m := _NODE_LINE.match(line):
            out[m.group(1)] = text_word(m.group(2).strip())
        elif m := _NODE_GROUP.match(line):
            word = "online" if m.group(1).endswith("Online") else "offline"
            for name in m.group(2).split():
                out[name.split("@", 1)[0]] = word
    return out


# ---------------------------------------------------------------- the CIB's own history entries


def history_entry(cib: ET.Element, node: str, call: str, key: str) -> tuple[str, ET.Element] | None:
    """(resource id, lrm_rsc_op) of the history entry crm_mon reported as failed: in the node's node_state, the
    entry with that call id and that operation key (or id, for an entry without a key), the last-failure entry
    first when the same call is kept twice (RSC_last_failure_0 beside RSC_monitor_INTERVAL)."""
    found = []
    for state in cib.iter("node_state"):
        if state.get("uname") != node and state.get("id") != node:
            continue
        for rsc in state.iter("lrm_resource"):
            for op in rsc.iter("lrm_rsc_op"):
                if op.get("call-id") == call and (op.get("operation_key") or op.get("id")) == key:
                    found.append((rsc.get("id", ""), op))
    found.sort(key=lambda entry: not entry[1].get("id", "").endswith("_last_failure_0"))
    return found[0] if found else None


def cib_fencing_enabled(cib: ET.Element) -> bool:
    """The cluster option as the CIB sets it: stonith-enabled (fencing-enabled from 3.0.2), default true
    (lib/common/options.c)."""
    for nv in cib.findall("configuration/crm_config/cluster_property_set/nvpair"):
        if nv.get("name") in ("stonith-enabled", "fencing-enabled"):
            return (nv.get("value") or "").lower() in ("true", "1", "yes", "on", "y")
    return True


def text_failed_resources(text: str) -> list[str]:
    """The resource each `Failed Resource Actions:` line of crm_mon's text view names: failed_action_friendly()
    prints parse_op_key()'s resource first (pe_output.c, Pacemaker-2.1.5 lines 1179-1240)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("Failed Resource Actions:"):
            inside = True
            continue
        if inside and not line.startswith("  "):
            break
        if inside and line.startswith("  * "):
            out.append(line[4:].split(" ", 1)[0])
    return out


def location_ids(cib: ET.Element) -> dict[str, set[str]]:
    """{rsc_location id: that id and its rules' ids} (crm_mon's <ban id=> is the rule's id for a rule)."""
    return {el.get("id", ""): {el.get("id", "")} | {r.get("id", "") for r in el.findall("rule")}
            for el in cib.iter("rsc_location")}
