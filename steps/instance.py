"""The cluster instance id: a random id the install writes into the CIB once, so a journal can tell its cluster.

A cluster id (steps.session.cluster_id) names a cluster by its name and SSH endpoints, and a re-installed pair of
servers or a re-created lab gets the same one. The instance id tells those apart: the Pacemaker step writes it as
the cluster property `axha-instance` (cib-bootstrap-options) when the CIB has none, and never changes it after.
It lives as long as the CIB does: a fresh Pacemaker on the same servers starts without it.

Reading it: `crm_attribute --query` on the live CIB of the first node where Pacemaker answers (the CIB is the
same on both nodes); where Pacemaker is stopped, the same query on the node's CIB on disk (CIB_FILE). Pacemaker
2.1 answers a missing property with exit 105 (CRM_EX_NOSUCH, "No such device or address"), a stopped cluster with
102 ("Could not connect to the CIB"), a missing cib.xml with 105 and "Could not connect".
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Mapping, Sequence

PROPERTY = "axha-instance"
CIB_FILE = "/var/lib/pacemaker/cib/cib.xml"
QUERY_ARGV = ("crm_attribute", "--type", "crm_config", "--name", PROPERTY, "--query", "--quiet")
OFFLINE_QUERY_ARGV = ("env", f"CIB_file={CIB_FILE}") + QUERY_ARGV
READ_TIMEOUT = 20.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

VALUE, NONE, NOT_RUNNING, UNREADABLE = "value", "none", "not-running", "unreadable"


@dataclass(frozen=True)
class InstanceRead:
    """What the cluster says about its instance id. known=False: no node answered, so nothing can be said."""

    value: str | None
    known: bool
    source: str = ""

    def describe(self) -> str:
        if not self.known:
            return f"unknown ({self.source})" if self.source else "unknown"
        return self.value or "none"


def new_instance_id() -> str:
    return str(uuid.uuid4())


def parse_query(rc: int, stdout: str, stderr: str) -> tuple[str, str | None]:
    """(kind, value) from one crm_attribute query: VALUE with the id, NONE (the CIB has no id), NOT_RUNNING (no
    live CIB to ask: ask the one on disk), UNREADABLE (anything else: this node says nothing)."""
    text = stdout + stderr
    if rc == 0:
        value = stdout.strip().splitlines()[-1].strip() if stdout.strip() else ""
        return (VALUE, value) if _ID.match(value) else (UNREADABLE, None)
    if "Could not connect" in text or "Transport endpoint is not connected" in text:
        return NOT_RUNNING, None
    if rc in (105, 6) or "No such device or address" in text:
        return NONE, None
    if rc == 127 or "not found" in text:   # no Pacemaker on the node: no cluster, no id
        return NONE, None
    return UNREADABLE, None


def _query(runner, argv: Sequence[str]) -> tuple[str, str | None]:
    from axha.steps.errors import AxhaError

    try:
        result = runner.run(list(argv), timeout=READ_TIMEOUT, mutating=False)
    except (AxhaError, OSError):  # unreachable node, refused host key, timeout: no answer from this node
        return UNREADABLE, None
    kind, value = parse_query(result.rc, result.stdout, result.stderr)
    if kind == NOT_RUNNING and argv[0] == "env":   # the CIB file itself is missing: this node never had a CIB
        return NONE, None
    return kind, value


def read_instance(runners: Mapping[str, object], nodes: Sequence[str] | None = None) -> InstanceRead:
    """The cluster's instance id. A live CIB's answer decides; without one, the CIBs on disk of the nodes that
    answer (an id on either wins: a node whose Pacemaker was never started has no cib.xml)."""
    nodes = list(nodes or runners)
    offline: list[tuple[str, str, str | None]] = []
    for node in nodes:
        kind, value = _query(runners[node], QUERY_ARGV)
        if kind in (VALUE, NONE):
            return InstanceRead(value, True, f"{node} (live CIB)")
        if kind == NOT_RUNNING:
            kind, value = _query(runners[node], OFFLINE_QUERY_ARGV)
            if kind in (VALUE, NONE):
                offline.append((node, kind, value))
    for node, kind, value in offline:
        if kind == VALUE:
            return InstanceRead(value, True, f"{node} ({CIB_FILE})")
    if offline:
        return InstanceRead(None, True, f"{', '.join(n for n, _, _ in offline)} (no id in {CIB_FILE})")
    return InstanceRead(None, False, f"no node answered {' '.join(QUERY_ARGV[:1])}")


def update_argv(instance: str) -> tuple[str, ...]:
    """Write the id into the live CIB (cib-bootstrap-options); Pacemaker replicates it to the other node."""
    return ("crm_attribute", "--type", "crm_config", "--name", PROPERTY, "--update", instance)


def bind_journal(journal, runners: Mapping[str, object], nodes: Sequence[str] | None = None, *,
                 final_steps: Sequence[str] = (), adopt_unbound: bool = True) -> list[str]:
    """Check a journal against the live cluster before an operation obeys it; the notes to show the admin.
    A stale journal (another instance, or the cluster has none while the journal has one) is set aside; a
    finished operation's journal is kept as history and the run starts a new one (see steps.journal).
    adopt_unbound=False (operations on an installed cluster): a journal with progress but without an id is set
    aside when the cluster has one."""
    notes: list[str] = []
    read = read_instance(runners, nodes)
    if read.known:
        note = journal.bind(read.value, adopt=adopt_unbound)
    elif journal.instance:
        note = (f"journal {journal.path}: the cluster's instance id could not be read ({read.source}); "
                f"it is only a hint, every step re-checks the real state")
    else:
        note = None
    if note:
        notes.append(note)
    note = journal.start_anew_if_finished(final_steps)
    if note:
        notes.append(note)
    return notes
