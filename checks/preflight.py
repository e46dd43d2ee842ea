"""The preflight run: both nodes at once, one script per node, results emitted as soon as their facts arrive."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from axha.checks import fencing, firewall, hardware, network, raid, software, storage, system
from axha.checks.script import script_argv
from axha.checks.view import NodeView
from axha.steps.runner import concurrently
from axha.steps.sections import Section, begin_line, is_end_line, split_sections
from axha.steps.errors import AxhaError
from axha.steps.render import option_lines
from axha.steps.framework import FAIL, PASS, SKIP, WARN, Finding, worst

CLUSTER = "cluster"  # the subject of findings that compare the two nodes
SCRIPT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    sections: tuple[str, ...]
    node: Callable | None = None
    pair: Callable | None = None
    needs_peer: bool = False  # the node verdict reads the peer's sections (fencing: the peer runs fence_ipmilan)
    needs_bmc: bool = False


CHECKS: tuple[Check, ...] = (
    Check("cpu", "CPU", ("cpuinfo", "lscpu", "cpufreq"), hardware.cpu, hardware.cpu_pair),
    Check("memory", "Memory", ("meminfo",), hardware.memory, hardware.memory_pair),
    Check("raid", "RAID", ("mdstat", "mdadm", "storcli", "perccli", "ssacli", "megacli"), raid.raid),
    Check("network", "NICs", ("nics", "ip_link", "ip_addr"), network.network),
    Check("links", "Cluster links", ("ping_link0", "ping_link1", "nics", "ip_link", "ip_addr"), network.links,
          network.links_pair),
    Check("fencing", "Fencing (BMC)", ("fence_peer", "nics", "ip_link", "ip_addr"), fencing.fencing, None,
          needs_peer=True, needs_bmc=True),
    Check("storage", "Storage", ("disk_lsblk", "disk_blkid", "disk_wipefs", "disk_holders", "disk_swaps",
                                 "disk_mounts", "disk_ids", "disk_head"), storage.storage, storage.storage_pair),
    Check("software", "Software", ("os_release", "packages", "apt_policy", "drbd_module", "proc_mount"),
          software.software, software.software_pair),
    Check("axigen", "Axigen", ("packages", "axigen_enabled"), software.axigen, software.axigen_pair),
    Check("time", "Time", ("clock", "timesync", "timedatectl"), system.time_sync, system.time_pair),
    Check("names", "Host names", ("hostname", "getent"), system.names, system.names_pair),
    Check("firewall", "Firewall", ("nft", "iptables"), firewall.firewall),
)
CHECK_IDS = tuple(c.id for c in CHECKS)


PROBES = frozenset({"ping_link0", "ping_link1", "fence_peer"})  # wait on the network, not on the node's CPU


def sections_for(checks) -> str:
    """The script's section list for these checks (the clock always: its arrival time measures clock skew)."""
    return ",".join(sorted({s for c in checks for s in c.sections} | {"clock"}))


def script_plan(checks) -> list[tuple[str, bool]]:
    """The script runs per node for these checks: (sections, fence?) each. The local facts are one command; each
    network probe (a ping to the peer over link0, over link1, fence_ipmilan to the peer's BMC) is a command of its
    own on the same SSH connection, all started at once: they wait on the network and on the peer, not on this
    node, so in sequence they would add up (about 0.2 s) behind the local facts instead of hiding under them."""
    wanted = set(sections_for(checks).split(","))
    fence = any(c.id == "fencing" for c in checks)
    plan = [(",".join(sorted(wanted - PROBES)), False)]
    plan += [(probe, fence and probe == "fence_peer") for probe in sorted(wanted & PROBES)]
    return plan


def check_by_id(check_id: str) -> Check:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(check_id)


@dataclass(frozen=True)
class CheckResult:
    """One cell of the node x check matrix: a check's findings for one node (or for the pair: node=cluster)."""

    check: str
    node: str
    findings: tuple[Finding, ...]
    output: str = ""
    duration: float = 0.0

    @property
    def status(self) -> str:
        return worst(self.findings)

    @property
    def title(self) -> str:
        return check_by_id(self.check).title

    def to_dict(self) -> dict:
        return {"check": self.check, "node": self.node, "status": self.status,
                "findings": [f.to_dict() for f in self.findings], "output": self.output,
                "duration": round(self.duration, 3)}


@dataclass
class PreflightReport:
    cluster: str
    nodes: tuple[str, str]
    results: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    duration: float = 0.0

    def add(self, result: CheckResult) -> None:
        self.results[(result.check, result.node)] = result

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.ordered() for f in r.findings]

    @property
    def status(self) -> str:
        return worst(self.findings)

    @property
    def ok(self) -> bool:
        return all(f.status != FAIL for f in self.findings)

    def ordered(self) -> list[CheckResult]:
        subjects = (*self.nodes, CLUSTER)
        return [self.results[(c.id, s)] for c in CHECKS for s in subjects if (c.id, s) in self.results]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in (PASS, WARN, FAIL, SKIP)}
        for f in self.findings:
            out[f.status] += 1
        return out

    def to_dict(self) -> dict:
        return {"cluster": self.cluster, "nodes": list(self.nodes), "ok": self.ok, "status": self.status,
                "counts": self.counts(), "duration": round(self.duration, 3),
                "results": [r.to_dict() for r in self.ordered()]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        subjects = (*self.nodes, CLUSTER)
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
        lines = [f"# axha preflight: cluster {self.cluster}", "",
                 f"Result: **{'ready' if self.ok else 'NOT ready'}** ({counts})",
                 "", "| check | " + " | ".join(subjects) + " |", "|---|" + "---|" * len(subjects)]
        for c in CHECKS:
            cells = [self.results[(c.id, s)].status if (c.id, s) in self.results else "" for s in subjects]
            if any(cells):
                lines.append(f"| {c.title} | " + " | ".join(cells) + " |")
        lines += ["", "## Findings", ""]
        for f in self.findings:
            if f.status == PASS:
                continue
            where = f.node or CLUSTER
            lines.append(f"- **{f.status}** `{f.code}` ({where}): {f.summary}")
            if f.remedy:
                lines.append(f"  - what to do: {f.remedy}")
        passed = [f for f in self.findings if f.status == PASS]
        if passed:
            lines += ["", "## Passed", ""] + [f"- `{f.code}` ({f.node or CLUSTER}): {f.summary}" for f in passed]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- running


def fence_options(spec, secrets, target) -> str | None:
    """fence_ipmilan's stdin options for the target node's BMC (key=value lines; the password never in argv), None
    without a password. Rendered by steps.render.option_lines: a value with a line break (which would start an
    option of its own, such as password_script, run through a shell) raises RenderError."""
    try:
        password = secrets.bmc_password(target.name) if secrets is not None else None
    except AxhaError:
        return None
    if not password:
        return None
    return option_lines((("ip", target.bmc.address), ("ipport", target.bmc.port), ("username", target.bmc.user),
                         ("password", password), ("lanplus", 1), ("action", "status"), ("verbose", 1),
                         ("power_timeout", 10)), secret={"password"})


class _Run:
    """Collects sections per node as they stream in and emits each (check, subject) once its inputs are there."""

    def __init__(self, ctx, checks: tuple[Check, ...], emit, report: PreflightReport):
        self.ctx, self.spec, self.checks, self.emit, self.report = ctx, ctx.spec, checks, emit, report
        self.sections: dict[str, dict[str, Section]] = {n: {} for n in self.spec.node_names}
        self.finished: dict[str, bool] = {n: False for n in self.spec.node_names}
        self.errors: dict[str, str] = {}
        self.bmc: dict[str, Any] = {}
        self.offsets: dict[str, float] = {}
        self.marks: dict[str, float] = {}  # local wall time when the node's clock section began arriving
        self.done: set[tuple[str, str]] = set()
        self.started = time.monotonic()
        self.lock = threading.Lock()

    # -- inputs
    def node_script(self, name: str) -> None:
        """Run this node's script(s) (script_plan) at once on its one SSH connection."""
        concurrently([lambda s=sections, f=fence: self._one_script(name, s, f)
                      for sections, fence in script_plan(self.checks)])
        with self.lock:
            self.finished[name] = True
        self.evaluate()

    def _one_script(self, name: str, sections: str, fence: bool) -> None:
        node, peer = self.spec.node(name), self.spec.peer(name)
        device = self.spec.storage.device if self.spec.storage.mode == "shared" else node.backing_disk
        try:
            stdin = fence_options(self.spec, self.ctx.secrets, peer) if fence else None
        except AxhaError as exc:  # a value the renderer refuses: fence_ipmilan is not run, the verdict says why
            with self.lock:
                self.sections[name]["fence_peer"] = Section(
                    "fence_peer", 2, "not run: axha refused to write its options (a value holds a line break or a "
                                     f"control character; check the cluster file with `axha validate`) [{exc.remedy}]")
            return
        argv = script_argv(sections, device,
                           node.link0.interface, peer.link0.address, node.link1.interface, peer.link1.address,
                           self.spec.axigen.package, self.spec.axigen.service, stdin is not None,
                           self.spec.node_names)
        buffer: list[str] = []

        def on_line(line: str) -> None:
            if line == begin_line("clock") and name not in self.marks:
                self.marks[name] = time.time()
            buffer.append(line)
            if is_end_line(line):
                self._absorb(name, "\n".join(buffer) + "\n")
        try:
            result = self.ctx.runner(name).stream(argv, on_line, timeout=SCRIPT_TIMEOUT, stdin=stdin or "")
            self._absorb(name, result.stdout)
            if not split_sections(result.stdout):
                self.errors[name] = (result.stderr or result.stdout).strip()[-300:] or f"exit {result.rc}"
        except AxhaError as exc:
            self.errors[name] = exc.explain()
        except Exception as exc:  # noqa: BLE001 - one node's failure is reported on that node, never a crash
            self.errors[name] = f"{type(exc).__name__}: {exc}"

    def _absorb(self, name: str, text: str) -> None:
        parsed = split_sections(text)
        with self.lock:
            for key, section in parsed.items():
                if section.rc != -1 or key not in self.sections[name]:
                    self.sections[name][key] = section
            clock = parsed.get("clock")
            if clock and clock.ok and name in self.marks and name not in self.offsets:
                try:
                    self.offsets[name] = float(clock.text.split()[0]) - self.marks[name]
                except (ValueError, IndexError):
                    pass
        self.evaluate()

    def local_bmcs(self, names: tuple[str, ...]) -> None:
        """Both BMCs' power state from this machine, asked together (steps.bmc.power_states); each node's answer
        is judged as soon as it arrives."""
        from axha.steps.bmc import power_states

        clients: dict[str, Any] = {}
        for name in names:
            try:
                if self.ctx.bmc is None:
                    raise AxhaError("no BMC client in this context")
                clients[name] = self.ctx.bmc(name)
            except Exception as exc:  # noqa: BLE001 - every BMC error is a finding
                self._bmc_answer(name, exc)
        order = list(clients)
        try:
            power_states(list(clients.values()), lambda i, value: self._bmc_answer(order[i], value))
        except Exception as exc:  # noqa: BLE001
            for name in order:
                if name not in self.bmc:
                    self._bmc_answer(name, exc)

    def _bmc_answer(self, name: str, value) -> None:
        with self.lock:
            self.bmc[name] = (None, value) if isinstance(value, BaseException) else (value, None)
        self.evaluate()

    # -- verdicts
    def view(self, name: str) -> NodeView:
        peer = self.spec.peer(name).name
        offset = self.offsets.get(name)
        return NodeView(self.spec, self.spec.node(name), dict(self.sections[name]), dict(self.sections[peer]),
                        self.bmc.get(name), offset)

    def _ready(self, check: Check, name: str) -> bool:
        have = lambda n: self.finished[n] or all(s in self.sections[n] for s in check.sections)  # noqa: E731
        peer = self.spec.peer(name).name
        return have(name) and (not check.needs_peer or have(peer)) and (not check.needs_bmc or name in self.bmc)

    def evaluate(self) -> None:
        todo: list[tuple[Check, str]] = []
        with self.lock:
            for check in self.checks:
                for name in self.spec.node_names:
                    if (check.id, name) not in self.done and self._ready(check, name):
                        self.done.add((check.id, name))
                        todo.append((check, name))
                a, b = self.spec.node_names
                if check.pair and (check.id, CLUSTER) not in self.done and self._ready(check, a) \
                        and self._ready(check, b):
                    self.done.add((check.id, CLUSTER))
                    todo.append((check, CLUSTER))
        for check, subject in todo:
            self._emit(self._result(check, subject))

    def _result(self, check: Check, subject: str) -> CheckResult:
        elapsed = time.monotonic() - self.started
        try:
            if subject == CLUSTER:
                a, b = self.spec.node_names
                if a in self.errors or b in self.errors:
                    findings = [Finding("PAIR_NOT_COMPARED", None, SKIP, "not compared: a node did not answer")]
                else:
                    findings = check.pair(self.view(a), self.view(b))
                output = ""
            elif subject in self.errors and not self.sections[subject] and check.id != "fencing":
                findings = [Finding("NODE_UNREACHABLE", subject, FAIL, f"could not run the checks: "
                                    f"{self.errors[subject].splitlines()[0]}",
                                    "Check SSH access to the node (address, port, user, key, host key) and "
                                    "run preflight again.", self.errors[subject])]
                output = self.errors[subject]
            else:
                view = self.view(subject)
                findings = check.node(view)
                output = self._output(check, view)
        except Exception as exc:  # noqa: BLE001 - a parser surprise is a finding, not a crash
            findings = [Finding("CHECK_ERROR", None if subject == CLUSTER else subject, WARN,
                                f"{check.title}: could not judge the output ({type(exc).__name__}: {exc})",
                                "Report this with the output shown; the check needs a fix.")]
            output = ""
        if not findings:
            findings = [Finding(f"{check.id.upper()}_NOT_APPLICABLE", None if subject == CLUSTER else subject,
                                SKIP, "nothing to check")]
        return CheckResult(check.id, subject, tuple(findings), output, elapsed)

    def _output(self, check: Check, view: NodeView) -> str:
        parts = []
        if check.needs_bmc and view.bmc_local is not None:
            state, error = view.bmc_local
            parts.append(f"# pyghmi power state from this machine\n{state if error is None else error}")
        for name in check.sections:
            s = view.sections.get(name)
            if s is not None:
                parts.append(f"# {name} (exit {s.rc})\n{_clip(s.text)}")
        if check.needs_peer:
            s = view.peer_sections.get("fence_peer")
            if s is not None:
                peer = self.spec.peer(view.name).name
                parts.append(f"# fence_ipmilan -o status run on {peer} (exit {s.rc})\n{_clip(s.text)}")
        return "\n\n".join(parts)

    def _emit(self, result: CheckResult) -> None:
        self.report.add(result)
        if self.emit is not None:
            self.emit(result)


def _clip(text: str, lines: int = 40) -> str:
    rows = text.splitlines()
    return "\n".join(rows[:lines] + ([f"... ({len(rows) - lines} more lines)"] if len(rows) > lines else []))


def run_preflight(ctx, emit: Callable[[CheckResult], None] | None = None, only: tuple[str, ...] | None = None,
                  report: PreflightReport | None = None) -> PreflightReport:
    """Run the checks (all, or `only` these ids) on both nodes at once; emit each CheckResult as it is ready.
    Read-only: every command runs with mutating=False. Returns the (updated) report."""
    checks = tuple(c for c in CHECKS if only is None or c.id in only)
    unknown = set(only or ()) - set(CHECK_IDS)
    if unknown:
        from axha.steps.errors import InputError
        raise InputError(f"unknown check(s): {', '.join(sorted(unknown))}",
                         remedy=f"Pick from: {', '.join(CHECK_IDS)}.")
    if report is None:
        report = PreflightReport(ctx.spec.name, ctx.spec.node_names)
    run = _Run(ctx, checks, emit, report)
    started = time.monotonic()
    calls = [lambda n=n: run.node_script(n) for n in ctx.spec.node_names]
    if any(c.needs_bmc for c in checks):
        calls.insert(0, lambda: run.local_bmcs(ctx.spec.node_names))
    for result in concurrently(calls):
        if isinstance(result, Exception):
            raise result
    run.evaluate()
    report.duration = time.monotonic() - started
    return report


def rerun_check(ctx, report: PreflightReport, check_id: str,
                emit: Callable[[CheckResult], None] | None = None) -> PreflightReport:
    """Run one check again on both nodes and replace its cells in the report."""
    check_by_id(check_id)
    for key in [k for k in report.results if k[0] == check_id]:
        del report.results[key]
    return run_preflight(ctx, emit, only=(check_id,), report=report)
