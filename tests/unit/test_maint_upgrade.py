"""Upgrade inputs: the version comes from the real .deb (the lab's stand-in package, built with dpkg-deb); a missing
file or another package is refused before anything runs; the journal keeps the plan of an unfinished upgrade."""
from __future__ import annotations

import pytest

from lab.axigen.build import build_packages
from steps.errors import InputError
from steps.framework import Context
from steps.journal import Journal
from steps.maint.upgrade import Upgrade, deb_field
from steps.runner import ReplayRunner
from tests.unit.test_maint_status import SPEC


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    return build_packages(tmp_path_factory.mktemp("debs"))


def ctx(tmp_path):
    runners = {n: ReplayRunner(n, []) for n in SPEC.node_names}
    return Context(spec=SPEC, runners=runners, journal=Journal(tmp_path / "upgrade.json", SPEC.name))


def test_version_read_from_the_package(packages):
    assert deb_field(packages["10.5.1"], "Version") == "10.5.1"
    assert deb_field(packages["10.5.0"], "Package") == "axigen"


def test_missing_or_foreign_package_refused_before_any_command(tmp_path):
    with pytest.raises(InputError, match="no such package"):
        Upgrade(ctx(tmp_path), package=str(tmp_path / "nope.deb"))
    junk = tmp_path / "junk.deb"
    junk.write_text("not a deb")
    c = ctx(tmp_path)
    with pytest.raises(InputError, match="not a readable .deb"):
        Upgrade(c, package=str(junk)).run()
    assert all(r.calls == [] for r in c.runners.values())


def test_unfinished_upgrade_to_another_version_is_refused(tmp_path, packages):
    c = ctx(tmp_path)
    c.journal.mark("gates", "done", "plan", first="node2", second="node1", original_active="node1",
                   target="10.5.0", old_versions={})
    c.journal.mark("upgrade-first", "running")
    with pytest.raises(InputError, match="unfinished upgrade to 10.5.0"):
        Upgrade(c, package=packages["10.5.1"]).run()
    assert all(r.calls == [] for r in c.runners.values())
