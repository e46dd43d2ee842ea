"""Upgrade inputs and the pieces that keep it safe on real servers: the version comes from the real package (the
lab's stand-in .deb built with dpkg-deb, or the vendor installer's name), a missing file, another package or a .run
without --accept-license is refused before anything runs; installers get AXIGEN_INSTALL_DONT_START_SERVICE=yes and an
Axigen an installer started on the passive node is stopped; a finished upgrade is history; a stage the journal calls
done is redone when the cluster disagrees."""
from __future__ import annotations

import shutil

import pytest

from axha_lab.axigen.build import build_installers, build_packages
from axha.steps.errors import InputError
from axha.steps.framework import Context
from axha.steps.instance import QUERY_ARGV
from axha.steps.journal import Journal
from axha.steps.maint import upgrade as up
from axha.steps.maint import package_file
from axha.steps.maint import upgrade_node as node_work
from axha.steps.maint.package_file import deb_field, read_package
from axha.steps.maint.upgrade import Upgrade
from axha.steps.runner import Recorded, ReplayRunner
from axha.steps import axigen_versions
from tests.unit.test_maint_status import SPEC


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    return build_packages(tmp_path_factory.mktemp("debs"))


@pytest.fixture(scope="module")
def installers(tmp_path_factory):
    return build_installers(tmp_path_factory.mktemp("runs"))


# the real answer of lab instance 8's node1 (Pacemaker 2.1.5) to instance.QUERY_ARGV after an install by this axha
INSTANCE = "e0d0ea82-7994-4f91-959f-00abaa55a890"


def ctx(tmp_path, recordings=None, instance=INSTANCE):
    ids = [Recorded(QUERY_ARGV, 0, f"{instance}\n")]
    runners = {n: ReplayRunner(n, list((recordings or {}).get(n, ())) + ids, ordered=False) for n in SPEC.node_names}
    return Context(spec=SPEC, runners=runners, journal=Journal(tmp_path / "upgrade.json", SPEC.name))


def test_version_read_from_the_package(packages):
    assert deb_field(packages["10.5.1"], "Version") == "10.5.1-1"
    pkg = read_package(packages["10.5.0"], "axigen")
    assert (pkg.kind, pkg.name, pkg.version) == ("deb", "axigen", "10.5.0-1")


def test_vendor_installer_version_from_its_name_and_licence_needs_accepting(tmp_path, installers):
    pkg = read_package(installers["10.5.1"], "axigen")
    assert (pkg.kind, pkg.wrapped, pkg.version) == ("run", "deb", "10.5.1")
    c = ctx(tmp_path)
    with pytest.raises(InputError, match="licence") as refused:
        Upgrade(c, package=installers["10.5.1"]).target()
    assert "--accept-license" in refused.value.remedy
    assert Upgrade(c, package=installers["10.5.1"], accept_license=True).target() == "10.5.1"
    renamed = tmp_path / "installer.run"
    shutil.copy(installers["10.5.1"], renamed)
    with pytest.raises(InputError, match="named axigen-<version>"):
        read_package(str(renamed), "axigen")
    assert all(r.calls == [] for r in c.runners.values())


def test_missing_or_foreign_package_refused_before_any_command(tmp_path):
    with pytest.raises(InputError, match="no such package"):
        Upgrade(ctx(tmp_path), package=str(tmp_path / "nope.deb"))
    junk = tmp_path / "junk.deb"
    junk.write_text("not a deb")
    c = ctx(tmp_path)
    with pytest.raises(InputError, match="is not readable"):
        Upgrade(c, package=str(junk)).run()
    with pytest.raises(InputError, match="--version"):
        Upgrade(c, version="-oDPkg::Pre-Invoke::=touch /tmp/x")
    assert all(r.calls == [] for r in c.runners.values())


def test_package_file_must_be_a_plain_regular_file(tmp_path, monkeypatch):
    """Issue 11: --package is read before anything runs: a FIFO is refused at once (dpkg-deb would block on it),
    so are a directory, a device behind a symlink, a name with control characters, spaces or a leading '-'; what
    is handed to dpkg-deb is the absolute path, never an option."""
    import os
    import threading
    c = ctx(tmp_path)
    fifo = tmp_path / "axigen.deb"
    os.mkfifo(fifo)
    done = threading.Event()
    outcome = []

    def attempt():
        try:
            Upgrade(c, package=str(fifo))
        except InputError as exc:
            outcome.append(str(exc))
        done.set()
    threading.Thread(target=attempt, daemon=True).start()
    assert done.wait(30), "a FIFO as --package blocked"
    assert "not a regular file" in outcome[0]
    (tmp_path / "dir.deb").mkdir()
    (tmp_path / "zero.deb").symlink_to("/dev/zero")
    for bad, words in ((tmp_path / "dir.deb", "not a regular file"), (tmp_path / "zero.deb", "not a regular file"),
                       (tmp_path / "a\nb.deb", "control character"), (tmp_path / "my axigen.deb", "letters, digits")):
        with pytest.raises(InputError, match=words):
            Upgrade(c, package=str(bad))
    dash = tmp_path / "-oDPkg::Pre-Invoke=x.deb"
    dash.write_text("junk")
    with pytest.raises(InputError, match="letters, digits"):   # ':' and '=' are not in a package file name
        Upgrade(c, package=str(dash))
    from axha.steps.maint.package_file import check_package_file
    (tmp_path / "-x.deb").write_text("junk")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="letters, digits"):
        check_package_file("-x.deb")
    (tmp_path / "axigen_10.5.1-1_amd64.deb").write_text("junk")
    assert check_package_file("axigen_10.5.1-1_amd64.deb") == str(tmp_path / "axigen_10.5.1-1_amd64.deb")
    assert all(r.calls == [] for r in c.runners.values())


def unfinished(journal, instance=INSTANCE):
    if instance:
        journal.bind(instance)
    journal.mark("gates", "done", "plan", first="node2", second="node1", original_active="node1",
                 target="10.5.0", old_versions={})
    journal.mark("upgrade-first", "running")


def test_unfinished_upgrade_to_another_version_is_refused(tmp_path, packages):
    c = ctx(tmp_path)
    unfinished(c.journal)
    with pytest.raises(InputError, match="unfinished upgrade to 10.5.0"):
        Upgrade(c, package=packages["10.5.1"]).run()
    # only the cluster's instance id was read (the journal is this cluster's), nothing else
    assert {tuple(a) for r in c.runners.values() for a in r.calls} <= {QUERY_ARGV}


@pytest.mark.parametrize("written_for", ["1b7a7c52-0d3e-4c55-9d0c-4f0e2a9c1e11", None])
def test_a_journal_of_another_installation_is_set_aside_not_obeyed(tmp_path, packages, written_for):
    """A re-installed pair gets the same cluster id: its old upgrade journal (of another instance, or written
    before instance ids) is set aside, and the upgrade starts from its gates."""
    from axha.steps.maint.probe import probe_argv
    silent = [Recorded(probe_argv(SPEC), 255, ""), Recorded(axigen_versions.package_version_argv("axigen"), 1, "")]
    c = ctx(tmp_path, {n: silent for n in SPEC.node_names})
    unfinished(c.journal, written_for)
    report = Upgrade(c, package=packages["10.5.1"]).run()
    assert not report.ok and report.stages[0][:2] == ("gates", "failed")   # a new run: its gates, not 10.5.0
    assert len(list(tmp_path.glob("upgrade.json.stale-*"))) == 1
    assert c.journal.instance == INSTANCE and c.journal.state("upgrade-first") == "pending"


def test_restart_sets_the_journal_aside(tmp_path, packages):
    from axha.steps.maint.probe import probe_argv
    silent = [Recorded(probe_argv(SPEC), 255, ""), Recorded(axigen_versions.package_version_argv("axigen"), 1, "")]
    c = ctx(tmp_path, {n: silent for n in SPEC.node_names})
    unfinished(c.journal)
    report = Upgrade(c, package=packages["10.5.1"]).run(restart=True)
    assert report.stages[0][:2] == ("gates", "failed") and len(list(tmp_path.glob("upgrade.json.restarted-*"))) == 1


def test_a_finished_upgrade_is_history_not_a_verdict(tmp_path, packages):
    """Once an upgrade finished, the next one (the same version again, or a downgrade) is a new operation: its
    stages run again instead of failing at 'final' from the old journal."""
    from axha.steps.maint.probe import probe_argv
    silent = [Recorded(probe_argv(SPEC), 255, ""), Recorded(axigen_versions.package_version_argv("axigen"), 1, "")]
    c = ctx(tmp_path, {n: silent for n in SPEC.node_names})
    for stage in up.STAGES:
        c.journal.mark(stage, "done", "old", **({"first": "node2", "second": "node1", "target": "10.5.1-1"}
                                                 if stage == "gates" else {}))
    report = Upgrade(c, package=packages["10.5.0"]).run()
    # the recorded nodes do not answer: the gates of the new operation stop there
    assert not report.ok and report.stages[0][:2] == ("gates", "failed")
    assert c.journal.state("final") == "pending" and c.journal.state("upgrade-first") == "pending"


def test_a_stage_the_journal_calls_done_is_redone_when_the_node_disagrees(tmp_path, packages):
    c = ctx(tmp_path, {"node2": [Recorded(axigen_versions.package_version_argv("axigen"), 0, "10.5.0-1\n")]})
    c.journal.mark("gates", "done", "", first="node2", second="node1", target="10.5.1-1")
    c.journal.mark("upgrade-first", "done", "node2 has 10.5.1")
    u = Upgrade(c, package=packages["10.5.1"])
    assert u.still_done("upgrade-first", "10.5.1-1") is False
    c2 = ctx(tmp_path / "b", {"node2": [Recorded(axigen_versions.package_version_argv("axigen"), 0, "10.5.1-1\n")]})
    c2.journal.set_data("gates", first="node2", second="node1")
    assert Upgrade(c2, package=packages["10.5.1"]).still_done("upgrade-first", "10.5.1-1") is True


def test_installers_never_get_to_start_axigen_on_their_own(tmp_path, packages, installers):
    c = ctx(tmp_path)
    deb = Upgrade(c, package=packages["10.5.1"])
    deb.target()
    assert deb.install_argv("node2") == ("env", node_work.DONT_START, "dpkg", "-i", "--", f"{package_file.REMOTE_PKG_DIR}/axigen_10.5.1-1_amd64.deb")
    run = Upgrade(c, package=installers["10.5.1"], accept_license=True)
    run.target()
    assert run.install_argv("node2", "/x/axigen.deb") == ("env", node_work.DONT_START, "dpkg", "-i", "--", "/x/axigen.deb")
    rpm = package_file.PackageFile("/p/axigen-10.5.1-1.x86_64.rpm", "rpm", "axigen", "10.5.1-1")
    r = Upgrade(c, package=packages["10.5.1"])
    r.pkg = rpm
    assert r.install_argv("node2") == ("env", node_work.DONT_START, "rpm", "-U", "--oldpackage", "--replacepkgs", "--",
                                       f"{package_file.REMOTE_PKG_DIR}/axigen-10.5.1-1.x86_64.rpm")
    repo = Upgrade(ctx(tmp_path / "r", {"node2": [Recorded(("sh", "-c", 'command -v "$0"', "dpkg-query"), 0,
                                                          "/usr/bin/dpkg-query\n")]}), version="10.5.1-1")
    assert repo.install_argv("node2")[-1] == "axigen=10.5.1-1" and node_work.DONT_START in repo.install_argv("node2")


def test_an_axigen_the_installer_started_on_the_passive_node_is_stopped(tmp_path, packages):
    status, stop, procs = node_work.service_status_argv("axigen"), node_work.service_stop_argv("axigen"), node_work.running_argv()
    cleanup = ("crm_resource", "--cleanup", "-r", "axigen", "-N", "node2")
    runner = ReplayRunner("node2", [Recorded(status, 0, "axigen is running\n"), Recorded(procs, 0, "4242\n"),
                                    Recorded(stop, 0), Recorded(procs, 1), Recorded(cleanup, 0)])
    c = ctx(tmp_path)
    c.runners["node2"] = runner
    Upgrade(c, package=packages["10.5.1"]).stop_stray("node2", "upgrade-first")
    runner.assert_done()
    # stopped: LSB 3, or 1 (a stale pid file) and no process: nothing to do
    quiet = ReplayRunner("node2", [Recorded(status, 1, "stale pid file\n"), Recorded(procs, 1)])
    c.runners["node2"] = quiet
    Upgrade(c, package=packages["10.5.1"]).stop_stray("node2", "upgrade-first")
    quiet.assert_done()


def test_the_process_pattern_does_not_match_the_command_that_holds_it():
    import re
    assert re.search(node_work.RUNNING_PATTERN, "/usr/bin/python3 /opt/axigen/bin/axigen --foreground")
    assert re.search(node_work.RUNNING_PATTERN, "/opt/axigen/bin/axigen")
    assert not re.search(node_work.RUNNING_PATTERN, "timeout 30 pgrep -f " + node_work.RUNNING_PATTERN)
