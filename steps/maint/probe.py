"""The dashboard's one read-only round trip per node: the probe's commands in the one-round-trip protocol of
steps.sections, and what one node's answer says (NodeProbe)."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from axha.steps.corosync_status import CFGTOOL_ARGV, CorosyncStatus, parse_cfgtool
from axha.steps.drbd_argv import status_argv as drbd_status_argv
from axha.steps.errors import AxhaError
from axha.steps.maint.drbdstate import DrbdLocal, DrbdStatusError, parse_drbd_status, status_error
from axha.steps.pacemaker import CONSTRAINTS_ARGV, CRM_MON_ARGV, PacemakerParseError
from axha.steps.pacemaker_cib import CibVersion, parse_cib_version
from axha.steps.pacemaker_constraints import LocationConstraint, parse_constraints
from axha.steps.pacemaker_status import ClusterStatus, parse_crm_mon
from axha.steps.sections import SEC_FUNC
from axha.steps.sections import split_sections as read_sections
from axha.steps import axigen_versions
from axha.steps.quorum_status import (QDEVICE_TOOL_ARGV, QUORUMTOOL_ARGV, QdeviceStatus, QuorumStatus,
                                      QuorumStatusError, parse_qdevice_status, parse_quorumtool_status)

PROBE_TIMEOUT = 25.0
STEP_TIMEOUT = 8  # seconds per probe command on the node (a hung crm_mon must not stall the refresh)


def probe_commands(spec) -> list[tuple[str, tuple[str, ...]]]:
    """The read-only commands of one refresh, by section name (all in one shell round trip)."""
    return [
        ("uname", ("uname", "-n")),
        ("crm_mon", CRM_MON_ARGV),
        ("constraints", CONSTRAINTS_ARGV),
        ("cib", ("cibadmin", "--query", "--no-children")),
        ("drbd", drbd_status_argv(spec.storage.drbd.resource)),
        ("gi", ("drbdadm", "get-gi", spec.storage.drbd.resource)),
        ("corosync", CFGTOOL_ARGV),
        ("axigen", axigen_versions.package_version_argv(spec.axigen.package)),
        ("axigen_bin", axigen_versions.binary_version_argv()),
        ("axigen_cli", axigen_versions.cli_version_argv(timeout=3)),
    ] + ([("quorum", QUORUMTOOL_ARGV), ("qdevice", QDEVICE_TOOL_ARGV)] if spec.quorum_device is not None else [])


def probe_argv(spec) -> tuple[str, ...]:
    """One `sh -c` running every probe command in the one-round-trip protocol of steps.sections (each command's
    output between its markers, with its exit code), each bounded by STEP_TIMEOUT."""
    parts = [f"sec {name} timeout {STEP_TIMEOUT} {shlex.join(argv)}" for name, argv in probe_commands(spec)]
    return ("sh", "-c", SEC_FUNC + "\n" + "\n".join(parts))


def split_sections(text: str) -> dict[str, tuple[int, str]]:
    """{name: (rc, output)} from the output of probe_argv() (steps.sections.split_sections; a section cut short
    has rc -1), each output ending with a newline when it has any."""
    return {name: (s.rc, s.text + "\n" if s.text else "") for name, s in read_sections(text).items()}


# ---------------------------------------------------------------- one node


@dataclass(frozen=True)
class NodeProbe:
    """What one node told us in one round trip; parse problems are kept per part, never raised."""

    node: str
    reachable: bool
    error: str = ""
    hostname: str = ""
    pacemaker: ClusterStatus | None = None
    pacemaker_error: str = ""
    constraints: tuple[LocationConstraint, ...] = ()
    cib_version: CibVersion | None = None
    drbd: DrbdLocal | None = None
    drbd_error: str = ""
    corosync: CorosyncStatus | None = None
    corosync_error: str = ""
    axigen_version: str | None = None     # installed: the package database (dpkg or rpm)
    axigen_binary: str | None = None      # installed: `axigen --version`
    axigen_running: str | None = None     # running: the CLI's GET VERSION (only where Axigen runs)
    drbd_gi: str = ""          # data generation identifiers (split-brain evidence)
    quorum: QuorumStatus | None = None        # with a quorum device: corosync-quorumtool -s
    qdevice: QdeviceStatus | None = None      # and corosync-qdevice-tool -s -v
    qdevice_error: str = ""


def parse_probe(node: str, rc: int, stdout: str, spec) -> NodeProbe:
    """Pure: the framed output of probe_argv() -> NodeProbe."""
    sections = split_sections(stdout)
    if not sections:
        return NodeProbe(node, False, error=f"probe printed nothing useful (rc {rc}): {stdout.strip()[:200]}")
    kw: dict[str, Any] = {"hostname": sections.get("uname", (1, ""))[1].strip()}
    mon_rc, mon = sections.get("crm_mon", (1, ""))
    try:
        kw["pacemaker"] = parse_crm_mon(mon)
    except PacemakerParseError as exc:
        kw["pacemaker_error"] = str(exc)
    c_rc, constraints = sections.get("constraints", (1, ""))
    if c_rc == 0:
        try:
            kw["constraints"] = parse_constraints(constraints)
        except PacemakerParseError:
            pass
    v_rc, version = sections.get("cib", (1, ""))
    if v_rc == 0:
        try:
            kw["cib_version"] = parse_cib_version(version)
        except (PacemakerParseError, ValueError):
            pass
    d_rc, drbd = sections.get("drbd", (1, ""))
    if d_rc == 0:
        try:
            kw["drbd"] = parse_drbd_status(drbd, spec.storage.drbd.resource)
        except DrbdStatusError as exc:
            kw["drbd_error"] = str(exc)
    else:
        kw["drbd_error"] = status_error(drbd, d_rc)
    g_rc, gi = sections.get("gi", (1, ""))
    kw["drbd_gi"] = gi.strip().splitlines()[-1] if g_rc == 0 and gi.strip() else ""
    k_rc, coro = sections.get("corosync", (1, ""))
    # the node ids place corosync 3.0.0-3.0.1's numbered nodes; Pacemaker's ids of corosync nodes are theirs
    pcmk = kw.get("pacemaker")
    parsed = parse_cfgtool(coro, [int(n.id) for n in pcmk.nodes if n.id.isdigit()] if pcmk else None)
    # links printed are links read, whatever the exit code: 3.0.x exits 1 when a link is down
    # (steps/corosync_status.py)
    if parsed.links:
        kw["corosync"] = parsed
    else:
        kw["corosync_error"] = coro.strip().splitlines()[-1] if coro.strip() else f"corosync-cfgtool exited {k_rc}"
    kw["axigen_version"] = axigen_versions.parse_package_version(*sections.get("axigen", (1, "")))
    b_rc, binary = sections.get("axigen_bin", (1, ""))
    kw["axigen_binary"] = axigen_versions.parse_binary_version(binary) if b_rc == 0 else None
    c_rc, cli = sections.get("axigen_cli", (1, ""))
    kw["axigen_running"] = axigen_versions.parse_cli_version(cli) if c_rc == 0 else None
    if spec.quorum_device is not None:
        try:
            kw["quorum"] = parse_quorumtool_status(sections.get("quorum", (1, ""))[1])
        except QuorumStatusError:
            pass
        q_rc, qd = sections.get("qdevice", (1, ""))
        try:
            kw["qdevice"] = parse_qdevice_status(qd)
        except QuorumStatusError as exc:
            kw["qdevice_error"] = (qd.strip().splitlines() or [f"corosync-qdevice-tool exited {q_rc}"])[-1][:200] \
                if q_rc != 0 else str(exc)
    return NodeProbe(node, True, **kw)


def probe_node(runner, spec) -> NodeProbe:
    try:
        result = runner.run(probe_argv(spec), timeout=PROBE_TIMEOUT)
    except AxhaError as exc:
        return NodeProbe(runner.node, False, error=str(exc))
    return parse_probe(runner.node, result.rc, result.stdout, spec)
