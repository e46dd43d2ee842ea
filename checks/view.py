"""What every preflight verdict shares: the NodeView a verdict looks at (one node's spec and sections, the
peer's sections, the local BMC answer, the clock offset), the Finding helper `_f` and `_missing` for a section that
could not be read. Each check area's parsers and verdicts live in a module of their own (checks.hardware,
checks.mdraid, checks.raid, checks.network, checks.fencing, checks.storage, checks.software, checks.system,
checks.firewall); checks.preflight runs them in order (CHECKS)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axha.steps.sections import Section
from axha.steps.framework import WARN, Finding


@dataclass
class NodeView:
    """What a verdict may look at for one node: its spec, its sections, the peer's, and the local BMC answer."""

    spec: Any
    node: Any  # NodeSpec
    sections: dict[str, Section]
    peer_sections: dict[str, Section] = field(default_factory=dict)
    bmc_local: Any = None  # ("on"|"off", None) or (None, exception)
    clock_offset: float | None = None  # node clock minus the local clock when its first line arrived

    @property
    def name(self) -> str:
        return self.node.name

    def section(self, name: str) -> Section | None:
        return self.sections.get(name)


def _f(code: str, node: str | None, status: str, summary: str, remedy: str = "", detail: str = "") -> Finding:
    return Finding(code, node, status, summary, remedy, detail)


def _missing(view: NodeView, code: str, what: str, section: str) -> Finding:
    s = view.section(section)
    why = s.text.strip().splitlines()[-1] if s and s.text.strip() else "no output"
    return _f(code, view.name, WARN, f"could not read {what} ({why})",
              f"Check that {section} works on {view.name} and run the check again.")
