"""Preflight of the replacement alone: the install's checks and verdicts (hardware, software, its links to the
survivor, its BMC from the survivor, its backing disk, time, names), run on both nodes at once because several
read the peer, and judged for the new node and the pair only. Three verdicts change their weight, because the
rebuild does what they ask for: another Axigen version (the rebuild installs the survivor's), Axigen at boot (the
rebuild disables it), and a backing disk that holds something (the metadata step keeps this resource's DRBD
metadata, and asks for the disk path before it erases anything else)."""
from __future__ import annotations

from dataclasses import replace

from axha.steps.framework import FAIL, WARN, Context, Finding, Step
from axha.steps.replace.common import has_cluster_key

CLUSTER = "cluster"
DONE_BY_REBUILD = {"AXIGEN_VERSION_MISMATCH": "the rebuild installs the survivor's version",
                   "AXIGEN_NOT_INSTALLED": "the rebuild installs the survivor's version",
                   "AXIGEN_ENABLED_AT_BOOT": "the rebuild turns it off at boot"}
GUARDED_DISK = ("DISK_NOT_EMPTY", "DISK_HOLDS_DATA")
NEVER_SOFTENED = ("DISK_MISSING", "DISK_MOUNTED", "DISK_IN_USE")


def judge(finding: Finding, check_id: str) -> Finding:
    """A preflight finding in the replacement's weight (see the module docstring)."""
    if finding.status != FAIL:
        return finding
    if finding.code in DONE_BY_REBUILD:
        return replace(finding, status=WARN, remedy=DONE_BY_REBUILD[finding.code])
    if check_id == "storage" and finding.code not in NEVER_SOFTENED and "SIZE" not in finding.code:
        return replace(finding, status=WARN, remedy="the DRBD metadata step keeps this resource's own metadata and "
                       "asks for the disk path before it erases anything else (or --wipe-disk NODE:PATH)")
    return finding


class NewNodePreflight(Step):
    id = "preflight-new-node"
    title = "Preflight of the new server (the install's checks)"

    def __init__(self, node: str):
        self.node = node
        self.report = None

    def finished_status(self) -> str:
        return "done"

    def check(self, ctx: Context) -> list[Finding]:
        if has_cluster_key(ctx, self.node):
            self.outcome = f"{self.node} holds the cluster's key already: it was checked before it joined"
            return []
        from axha.checks.preflight import run_preflight
        self.report = run_preflight(ctx)
        findings = []
        for result in self.report.ordered():
            if result.node not in (self.node, CLUSTER):
                continue
            findings += [judge(f, result.check) for f in result.findings]
        fails = [f for f in findings if f.status == FAIL]
        warns = [f for f in findings if f.status == WARN]
        self.outcome = (f"{self.node}: {len(fails)} FAIL, {len(warns)} WARN, "
                        f"{len(findings) - len(fails) - len(warns)} PASS or skipped")
        return findings
