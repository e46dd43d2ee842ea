"""Preflight on the CPU and memory: parsers of /proc/cpuinfo, `lscpu -J`, cpufreq and /proc/meminfo (text in,
frozen facts out) and their verdicts against the Axigen HA baseline (facts in, Findings with stable codes and
remedies out). Pure functions, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass

from axha.checks.view import NodeView, _f, _missing
from axha.steps.sections import extract_json, key_values
from axha.steps.framework import FAIL, PASS, WARN, Finding


# The Axigen HA baseline (Axigen's HA architecture paper): Xeon quad-core > 2 GHz, 8 GB RAM, RAID, 2 x GbE.
MIN_CORES = 4
MIN_MHZ = 2000.0
MIN_RAM_KB = 8 * 1000 * 1000  # "8 GB" as vendors sell it; 8 GiB modules report a little less than 8 GiB


# ---------------------------------------------------------------- CPU and memory


@dataclass(frozen=True)
class CpuInfo:
    model: str
    sockets: int
    cores: int
    threads: int
    rated_mhz: float | None  # the "@ 2.40GHz" in the model name (the base clock), when the vendor prints one
    max_mhz_seen: float | None  # the highest "cpu MHz" of any processor

    @property
    def mhz(self) -> float | None:
        """The frequency to judge: the rated base clock when known, else the highest one seen."""
        return self.rated_mhz if self.rated_mhz else self.max_mhz_seen


def parse_cpuinfo(text: str) -> CpuInfo:
    blocks = [b for b in re.split(r"\n\s*\n", text) if "processor" in b]
    models, mhz, cores_by_socket, packages = set(), [], {}, set()
    for block in blocks:
        kv = key_values(block)
        models.add(kv.get("model name", kv.get("cpu model", "")))
        if "cpu MHz" in kv:
            mhz.append(float(kv["cpu MHz"]))
        socket = kv.get("physical id", "0")
        packages.add(socket)
        core = kv.get("core id")
        cores_by_socket.setdefault(socket, set()).add(core if core is not None else kv.get("processor"))
    model = sorted(m for m in models if m)[0] if any(models) else "unknown"
    rated = None
    match = re.search(r"@\s*([\d.]+)\s*GHz", model)
    if match:
        rated = float(match.group(1)) * 1000
    return CpuInfo(model=model, sockets=len(packages) or 1,
                   cores=sum(len(c) for c in cores_by_socket.values()), threads=len(blocks),
                   rated_mhz=rated, max_mhz_seen=max(mhz) if mhz else None)


def parse_lscpu_json(text: str) -> dict[str, str]:
    """`lscpu -J` -> {"Model name": ..., "CPU max MHz": ...} (field names without the trailing colon)."""
    data = extract_json(text)
    out: dict[str, str] = {}

    def walk(items: list) -> None:
        for item in items:
            out.setdefault(item["field"].rstrip(":"), item.get("data") or "")
            walk(item.get("children", []))

    walk(data.get("lscpu", []))
    return out


def parse_cpufreq(text: str) -> float | None:
    """cpuinfo_max_freq values (kHz, one per CPU) -> the highest in MHz, None when the kernel exposes none."""
    values = [int(v) for v in text.split() if v.isdigit()]
    return max(values) / 1000 if values else None


def parse_meminfo(text: str) -> int:
    """MemTotal in kB."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    if not match:
        raise ValueError("no MemTotal line")
    return int(match.group(1))


# ---------------------------------------------------------------- CPU


def cpu_facts(view: NodeView) -> CpuInfo | None:
    s = view.section("cpuinfo")
    if not s or not s.ok:
        return None
    info = parse_cpuinfo(s.text)
    if info.rated_mhz is None:
        freq = view.section("cpufreq")
        max_mhz = parse_cpufreq(freq.text) if freq and freq.ok else None
        lscpu = view.section("lscpu")
        if max_mhz is None and lscpu and lscpu.ok:
            try:
                value = parse_lscpu_json(lscpu.text).get("CPU max MHz")
                max_mhz = float(value) if value else None
            except ValueError:
                pass
        if max_mhz:
            info = CpuInfo(info.model, info.sockets, info.cores, info.threads, None,
                           max(max_mhz, info.max_mhz_seen or 0))
    return info


def cpu(view: NodeView) -> list[Finding]:
    info = cpu_facts(view)
    if info is None:
        return [_missing(view, "CPU_UNREADABLE", "/proc/cpuinfo", "cpuinfo")]
    ghz = f"{info.mhz / 1000:.2f} GHz" if info.mhz else "unknown clock"
    what = f"{info.model}: {info.cores} cores / {info.threads} threads, {ghz}"
    problems = []
    if info.cores < MIN_CORES:
        problems.append(f"{info.cores} cores (baseline: at least {MIN_CORES})")
    if info.mhz is not None and info.mhz <= MIN_MHZ:
        problems.append(f"{ghz} (baseline: more than {MIN_MHZ / 1000:g} GHz)")
    if problems:
        return [_f("CPU_BELOW_BASELINE", view.name, FAIL, f"{what}: below the Axigen HA baseline: "
                   + "; ".join(problems),
                   "Use a server with at least a quad-core CPU above 2 GHz (Axigen's HA baseline), or accept "
                   "lower mail throughput after a failover knowingly.")]
    if info.mhz is None:
        return [_f("CPU_CLOCK_UNKNOWN", view.name, WARN, f"{what}: the clock speed is not readable",
                   "Check the CPU model against the baseline (quad-core above 2 GHz) by hand.")]
    return [_f("CPU_OK", view.name, PASS, what)]


def cpu_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = cpu_facts(a), cpu_facts(b)
    if x is None or y is None:
        return []
    if (x.model, x.cores, x.threads) != (y.model, y.cores, y.threads):
        return [_f("CPU_MISMATCH", None, WARN,
                   f"the nodes differ: {a.name} {x.model} {x.cores}c/{x.threads}t, "
                   f"{b.name} {y.model} {y.cores}c/{y.threads}t",
                   "After a failover the weaker node carries the whole load: size it for that, or use "
                   "identical servers.")]
    return [_f("CPU_SAME", None, PASS, f"both nodes: {x.model}, {x.cores} cores / {x.threads} threads")]


# ---------------------------------------------------------------- memory


def _mem(view: NodeView) -> int | None:
    s = view.section("meminfo")
    if not s or not s.ok:
        return None
    try:
        return parse_meminfo(s.text)
    except ValueError:
        return None


def _gb(kb: int) -> str:
    return f"{kb / 1024 / 1024:.1f} GiB"


def memory(view: NodeView) -> list[Finding]:
    kb = _mem(view)
    if kb is None:
        return [_missing(view, "RAM_UNREADABLE", "/proc/meminfo", "meminfo")]
    if kb < MIN_RAM_KB * 0.95:  # the kernel keeps a little for itself: 8 GB of modules shows ~7.6-7.8 GiB
        return [_f("RAM_BELOW_BASELINE", view.name, FAIL, f"{_gb(kb)} of RAM, below the 8 GB baseline",
                   f"Add memory to {view.name} (Axigen HA baseline: 8 GB) before installing.")]
    return [_f("RAM_OK", view.name, PASS, f"{_gb(kb)} of RAM")]


def memory_pair(a: NodeView, b: NodeView) -> list[Finding]:
    x, y = _mem(a), _mem(b)
    if x is None or y is None:
        return []
    if abs(x - y) > 0.1 * max(x, y):
        return [_f("RAM_MISMATCH", None, WARN, f"the nodes differ: {a.name} {_gb(x)}, {b.name} {_gb(y)}",
                   "After a failover the smaller node carries the whole load: give both the same memory.")]
    return [_f("RAM_SAME", None, PASS, f"{a.name} {_gb(x)}, {b.name} {_gb(y)}")]
