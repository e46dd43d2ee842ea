"""Pure parser of `cibadmin --query --scope constraints` (steps.pacemaker.CONSTRAINTS_ARGV): the location
constraints, and which of them a move/ban or DRBD's fence-peer handler left behind."""
from __future__ import annotations

from dataclasses import dataclass

from axha.steps.pacemaker import _parse_xml, normalize_role

# what `crm_resource --move/--ban` and crm-fence-peer.9.sh leave behind: constraint id prefix -> kind
LEFTOVER_PREFIXES = ("cli-prefer-", "cli-ban-", "drbd-fence-by-handler-")
LEFTOVER_KINDS = ("cli-prefer", "cli-ban", "drbd-fence")


@dataclass(frozen=True)
class LocationConstraint:
    """A rsc_location: `node`+`score` for the simple form, or the nodes named by a rule (`rule_nodes`).

    `node` is the node the constraint is about in either form: `crm_resource --move/--ban --lifetime` writes the
    rule form, `#uname eq NODE` and a `date_expression operation="lt" end=...` (tools/crm_resource_ban.c,
    Pacemaker HEAD 0a519a6e lines 106-126 for a ban, 186-205 for a move; cts/cli/regression.crm_resource.exp
    "Specify a lifetime when moving a resource"); `until` is that end."""

    id: str
    resource: str
    node: str | None
    score: str | None
    role: str | None
    rule_nodes: tuple[str, ...] = ()
    rule_score: str | None = None
    until: str | None = None

    @property
    def kind(self) -> str:
        """cli-prefer, cli-ban, drbd-fence, or other."""
        for prefix, kind in zip(LEFTOVER_PREFIXES, LEFTOVER_KINDS):
            if self.id.startswith(prefix):
                return kind
        return "other"

    @property
    def leftover(self) -> bool:
        """Left behind by a move/ban or by DRBD's fence-peer handler; blocks a clean switchover."""
        return self.kind != "other"

    def describe(self) -> str:
        timed = f", until {self.until}" if self.until else ""
        if self.kind in ("cli-prefer", "cli-ban"):
            # the score says which way it pushes (old crm_resource wrote cli-prefer rules with -INFINITY too)
            away = (self.score or "").strip().startswith("-")
            what = "banned from" if away else "pinned to"
            origin = "move" if self.kind == "cli-prefer" else "ban/move"
            return f"{self.resource} {what} {self.node} ({self.id}, from a {'timed ' if timed else ''}{origin}{timed})"
        if self.kind == "drbd-fence":
            keep = ", ".join(self.rule_nodes) or "?"
            return f"{self.resource} may be promoted only on {keep} ({self.id}, set by DRBD's fence-peer handler)"
        return f"{self.id}: {self.resource} {self.score} on {self.node}"

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "resource": self.resource, "node": self.node, "score": self.score,
                "role": self.role, "rule_nodes": list(self.rule_nodes), "until": self.until,
                "description": self.describe()}


def parse_constraints(text: str) -> tuple[LocationConstraint, ...]:
    """Parse `cibadmin --query --scope constraints` (or a whole CIB) into its location constraints."""
    root = _parse_xml(text, "cibadmin")
    out: list[LocationConstraint] = []
    for el in root.iter("rsc_location"):
        rule_nodes: list[str] = []
        rule_node = None
        rule_score = None
        until = None
        role = el.get("role")
        for rule in el.findall("rule"):
            rule_score = rule.get("score")
            role = role or rule.get("role")
            for expr in rule.findall("expression"):
                if expr.get("attribute") == "#uname" and expr.get("value"):
                    rule_nodes.append(expr.get("value", ""))
                    if expr.get("operation") == "eq" and rule_node is None:
                        rule_node = expr.get("value")
            for date in rule.findall("date_expression"):
                if date.get("operation") == "lt" and date.get("end") is not None:
                    until = date.get("end")
        out.append(LocationConstraint(
            id=el.get("id", ""), resource=el.get("rsc", el.get("rsc-pattern", "")),
            node=el.get("node") or rule_node, score=el.get("score") or rule_score, role=normalize_role(role) or None,
            rule_nodes=tuple(rule_nodes), rule_score=rule_score, until=until))
    return tuple(out)


def leftover_constraints(constraints: tuple[LocationConstraint, ...]) -> tuple[LocationConstraint, ...]:
    return tuple(c for c in constraints if c.leftover)
