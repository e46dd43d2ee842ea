"""One way to run an operation on a cluster: its steps through run_steps (check, plan, confirm, apply, verify,
the same events), in a journal of its own when the context journals operations.

`ctx.options["journal_operations"]` is set by steps.session.open_context (every real session): an operation
without a journal of its own (ctx.journal None) then runs in `journal/<name>.json`, bound to the cluster instance
like the install's (a journal of another installation is set aside, a finished one is history). A bare Context
(the unit tests' replayed nodes) runs the steps without one."""
from __future__ import annotations

from typing import Sequence

from axha.steps.framework import Context, Emit, RunReport, Step, run_steps


def run_operation(ctx: Context, name: str, steps: Sequence[Step], emit: Emit, *,
                  plan_only: bool = False, nested: bool = False) -> RunReport:
    """`nested`: the operation is a stage of an enclosing one (the upgrade's switchover), which journals it: it runs
    without a journal, and the enclosing operation's (ctx.journal) is neither written nor finished by it."""
    if nested:
        outer, ctx.journal = ctx.journal, None
        try:
            return run_steps(ctx, steps, emit, plan_only=plan_only)
        finally:
            ctx.journal = outer
    if ctx.journal is not None or not ctx.options.get("journal_operations") or ctx.spec is None or plan_only:
        return run_steps(ctx, steps, emit, plan_only=plan_only)
    from axha.steps.session import open_journal

    ctx.journal = open_journal(ctx.spec, name)
    try:
        return run_steps(ctx, steps, emit, plan_only=plan_only)
    finally:
        ctx.journal = None
