"""Shared lab fixtures: ONE lab per test session (instance $AXHA_LAB_INSTANCE, default 0), torn down at the end
unless AXHA_LAB_KEEP=1. `lab` yields `axha lab status --json` as a dict; `fresh_lab` resets both nodes first."""

from __future__ import annotations

import os

import pytest


def lab_instance() -> int:
    return int(os.environ.get("AXHA_LAB_INSTANCE", "0"))


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The session's lab, up (profile $AXHA_LAB_PROFILE or baseline); its status dict."""
    if os.geteuid() != 0:
        pytest.skip("lab integration tests need root (namespaces, mounts, loop devices)")
    from axha_lab import core

    instance = lab_instance()
    cluster_file = tmp_path_factory.mktemp("lab") / "axha-lab.yaml"
    # named explicitly: `lab up` on a running lab keeps that lab's profile, and a lab left on degraded-raid by
    # hand would fail every baseline test
    status = core.up(instance, os.environ.get("AXHA_LAB_PROFILE") or "baseline", str(cluster_file))
    yield status
    if os.environ.get("AXHA_LAB_KEEP") != "1":
        core.down(instance)


@pytest.fixture
def fresh_lab(lab):
    """The session's lab with both nodes reset to their state right after `lab up` (about 1-2 s)."""
    from axha_lab import core

    return core.reset(lab["instance"])


@pytest.fixture
def lab_exec(lab):
    """Run a command inside a lab node: lab_exec("node1", ["hostname"]) -> CompletedProcess (no check)."""
    from axha_lab import nodes

    def run(node: str, argv: list[str], stdin: bytes | None = None, timeout: float = 120):
        return nodes.node_run(lab["instance"], node, argv, stdin=stdin, timeout=timeout, check=False)

    return run


@pytest.fixture
def lab_profile(lab):
    """Switch the session lab to another hardware profile for one test: `lab_profile("low-ram")` -> status dict.
    The nodes reboot into it (their disks are kept); the session's profile is restored afterwards."""
    from axha_lab import core, nodes

    instance = lab["instance"]
    original = core.status(instance)["profile"]
    switched = []

    def switch(name: str) -> dict:
        switched.append(name)
        return core.up(instance, name, lab["cluster_file"])

    yield switch
    if switched:
        core.up(instance, None if original == "none" else original, lab["cluster_file"])
        for node in ("node1", "node2"):
            nodes.wait_booted(instance, node)
