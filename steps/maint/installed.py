"""Is the cluster installed? The engine's one answer, for the wizard (which opens Maintenance only then) and any
front end: only the live cluster decides, crm_mon on a node showing the Axigen group. A journal never does: it may
describe an earlier installation of these servers (a lab re-created, a re-install)."""
from __future__ import annotations

from dataclasses import dataclass

from axha.steps.pacemaker import CRM_MON_ARGV
from axha.steps.names import GROUP
from axha.steps.pacemaker_status import parse_crm_mon


@dataclass(frozen=True)
class Installed:
    installed: bool
    why: str           # a sentence for the admin: what was asked of whom, and what to do next


def crm_mon_group(ctx) -> tuple[str, bool] | None:
    """(node, whether crm_mon there shows the Axigen group), or None when no node answered. One quick read-only
    look per node, the first that answers decides."""
    for name in ctx.spec.node_names:
        try:
            # --inactive: a stopped group (both nodes in standby, say) is still an installed one
            result = ctx.runner(name).run(list(CRM_MON_ARGV), timeout=8)
        except Exception:  # unreachable, unknown host key, ...: try the other node
            continue
        try:
            status = parse_crm_mon(result.stdout)
        except Exception:  # Pacemaker not running there: crm_mon prints an error status
            continue
        if status.dc is None and not status.nodes:
            continue
        return name, status.group(GROUP) is not None
    return None


def cluster_installed(ctx, journal_exists: bool = False) -> Installed:
    """The live cluster's answer. `journal_exists`: an install journal is there (mentioned, never obeyed)."""
    answer = crm_mon_group(ctx)
    nodes = ctx.spec.node_names
    if answer is None:
        return Installed(False, f"Could not ask the cluster whether it is installed (crm_mon answered on neither "
                                f"{' nor '.join(nodes)}): staying on Inventory; Preflight (F3) shows why.")
    node, has_group = answer
    if has_group:
        return Installed(True, f"crm_mon on {node} shows {GROUP}")
    hint = (" An install journal exists, but a journal alone never decides: Install re-checks every step."
            if journal_exists else "")
    return Installed(False, f"No Axigen group ({GROUP}) on the cluster (crm_mon on {node}): install not done. "
                            f"Run Preflight (F3), then Install (F4).{hint}")
