"""One stage of the rolling upgrade (steps.maint.upgrade) as a step of the one engine."""
from __future__ import annotations

from typing import TYPE_CHECKING

from axha.steps.framework import Action, Finding, Step

if TYPE_CHECKING:
    from axha.steps.maint.upgrade import Upgrade


class UpgradeStage(Step):
    """One stage of the rolling upgrade as an engine step. A stage the journal calls done is skipped only while
    the cluster agrees (Upgrade.still_done); the gates and the verifications only read and judge (their work is
    in check()), the others show their commands per node (plan), ask (Upgrade.confirmation) and run (apply)."""

    READS_ONLY = ("gates", "verify-new", "final")

    def __init__(self, up: "Upgrade", stage: str, target: str):
        self.up, self.stage, self.target = up, stage, target
        self.id, self.title = stage, stage.replace("-", " ").capitalize()
        self.skip, self.ran = False, False

    def _method(self):
        return getattr(self.up, "stage_" + self.stage.replace("-", "_"))

    def check(self, ctx) -> list[Finding]:
        journal = self.up.journal
        if journal.state(self.stage) == "done":
            if self.up.still_done(self.stage, self.target):
                self.skip = True
                self.outcome = f"done earlier: {journal.entry(self.stage).get('message', '')}"
                return []
            self.up.say(self.stage, "-", f"the journal says '{self.stage}' is done, but the cluster says otherwise: "
                        "redoing it")
            journal.mark(self.stage, "pending", "re-checked: not done")
        if self.stage in self.READS_ONLY and (self.stage == "gates" or not ctx.options.get("plan")):
            self.outcome = self._method()(self.target, bool(ctx.options.get("plan")))
            self.ran = True
        elif self.stage in self.READS_ONLY:
            self.outcome = "reads and checks the cluster when the upgrade runs"
        return []

    def plan(self, ctx) -> list[Action]:
        if self.skip or self.stage in self.READS_ONLY:
            return []
        if self.stage == "upload" and self.up.pkg is None:
            self.outcome, self.ran = f"version {self.target} comes from the nodes' repositories", True
            return []
        return self.up.stage_plan(self.stage, self.target)

    def confirmation(self, ctx, plan: list[Action]):
        return self.up.confirmation(self.stage, self.target)

    def apply(self, ctx, plan: list[Action], emit) -> None:
        self.outcome = self._method()(self.target, False)

    def finished_status(self) -> str:
        return "done" if self.ran else "skipped"
