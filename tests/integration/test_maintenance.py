"""Maintenance on the lab after a real `axha install --yes`: switchover (twice, no cli-* left, VIP answers),
switchover refused with the reason and NO configuration change for each gate, and the rolling upgrade to the lab's
10.5.1 package (mail kept; killed in the middle and re-run, it finishes; then a downgrade and the upgrade again, each
a new operation)."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axha.steps import names
from axha.steps import axigen
from axha.steps.maint.service import service_answer
from axha.steps.pacemaker_cib import parse_cib_version
from axha.steps.pacemaker_constraints import leftover_constraints, parse_constraints
from axha.steps.pacemaker_status import parse_crm_mon
from axha.steps import axigen_cfg
from axha.steps import axigen_versions
from tests.waiting import wait_for as wait_in_app, wait_for_dialog, wait_until

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]


def axha(lab, state_dir, *args, timeout=300):
    env = {**os.environ, "AXHA_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "axha.tui.cli", *args, "--cluster", lab["cluster_file"]], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def run(lab_exec, node, *argv, check=True):
    out = lab_exec(node, list(argv))
    if check:
        assert out.returncode == 0, (argv, out.stdout, out.stderr)
    return out.stdout.decode()


def crm(lab_exec):
    for node in ("node1", "node2"):
        out = lab_exec(node, ["crm_mon", "--output-as=xml", "--inactive"])
        if out.returncode == 0:
            return parse_crm_mon(out.stdout.decode())
    raise AssertionError("crm_mon answered on no node")


def config_version(lab_exec):
    """(admin_epoch, epoch): they move with every configuration change, not with status updates."""
    return parse_cib_version(run(lab_exec, "node1", "cibadmin", "--query", "--no-children")).config


def leftovers(lab_exec):
    return leftover_constraints(parse_constraints(run(lab_exec, "node1", "cibadmin", "--query", "--scope",
                                                      "constraints")))


def wait_for(what, probe, timeout=120):
    return wait_until(probe, what, timeout, interval=1)


def settled(lab_exec):
    """Group fully started, DRBD in sync both sides, no failed action, no leftover."""
    status = crm(lab_exec)
    active = status.where(names.GROUP)
    if active is None or status.failed_actions:
        return None
    for node in ("node1", "node2"):
        out = lab_exec(node, ["drbdsetup", "status", "axigen", "--json"])
        res = json.loads(out.stdout.decode() or "[]") if out.returncode == 0 else []
        devices = res[0].get("devices") or [] if res else []
        connections = res[0].get("connections") or [] if res else []
        peers = connections[0].get("peer_devices") or [] if connections else []
        if not devices or devices[0]["disk-state"] != "UpToDate" or not peers or \
                peers[0]["replication-state"] != "Established":
            # DRBD down (a standby node), just brought up with no connection yet, syncing or disconnected
            return None
    if leftovers(lab_exec):
        return None
    return active


@pytest.fixture(scope="module")
def installed(lab, tmp_path_factory):
    """The lab reset and installed once for this module by D2's steps through `axha install --yes`."""
    from axha_lab import core, nodes

    def lab_exec(node, argv):
        return nodes.node_run(lab["instance"], node, argv, check=False, timeout=120)

    core.reset(lab["instance"])
    state_dir = tmp_path_factory.mktemp("axha-state")
    for node in ("node1", "node2"):
        lab_exec(node, ["rm", "-f", "/root/.pyenv/shims/.pyenv-shim"])  # see test_install.unstick
    result = axha(lab, state_dir, "install", "--yes", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    wait_for("a settled cluster", lambda: settled(lab_exec))
    return {"lab": lab, "state_dir": state_dir}


def switchover(installed, *extra):
    out = axha(installed["lab"], installed["state_dir"], "switchover", "--yes", "--json", *extra)
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def test_switchover_moves_the_service_and_twice_returns_it(installed, lab_exec):
    lab = installed["lab"]
    first = settled(lab_exec)
    rc, report = switchover(installed)
    assert rc == 0, report
    assert report["source"] == first and report["target"] != first and report["cleared"]
    assert crm(lab_exec).where(names.GROUP) == report["target"]
    assert [c.id for c in leftovers(lab_exec)] == []
    answer = service_answer(lab["vip"], "smtp", 25)
    assert answer.ok and report["target"] in answer.banner
    assert report["service_gap"]["longest_gap_s"] > 0
    rc, back = switchover(installed)
    assert rc == 0, back
    assert crm(lab_exec).where(names.GROUP) == first
    assert [c.id for c in leftovers(lab_exec)] == []


def _standby(lab_exec, passive):
    run(lab_exec, "node1", "crm_attribute", "--node", passive, "--name", "standby", "--update", "on")
    return lambda: run(lab_exec, "node1", "crm_attribute", "--node", passive, "--name", "standby", "--delete")


def _ban(lab_exec, passive):
    run(lab_exec, "node1", "crm_resource", "--ban", "-r", names.GROUP, "-N", passive)
    return lambda: run(lab_exec, "node1", "crm_resource", "--clear", "-r", names.GROUP)


def _failed_action(lab_exec, passive):
    run(lab_exec, "node1", "crm_resource", "--fail", "-r", names.SERVICE, "-N", crm(lab_exec).where(names.GROUP))
    wait_for("the failure to show", lambda: crm(lab_exec).failed_actions, 30)
    return lambda: run(lab_exec, "node1", "crm_resource", "--cleanup")


def _fence_stopped(lab_exec, passive):
    device = names.fence_device(passive)
    run(lab_exec, "node1", "crm_resource", "-r", device, "--meta", "-p", "target-role", "-v", "Stopped")
    wait_for("the fence device to stop", lambda: not any(r.active for r in crm(lab_exec).resource(device)), 60)
    return lambda: run(lab_exec, "node1", "crm_resource", "-r", device, "--meta", "-d", "target-role")


def _target_syncing(lab_exec, passive):
    active = crm(lab_exec).where(names.GROUP)
    run(lab_exec, active, "drbd-standin-ctl", "axigen", "resync")
    return lambda: None


@pytest.mark.parametrize("make,code", [
    (_target_syncing, "TARGET_DRBD_SYNCING"),
    (_failed_action, "FAILED_ACTIONS"),
    (_standby, "NODE_STANDBY"),
    (_ban, "LEFTOVER_CONSTRAINT"),
    (_fence_stopped, "FENCING_STOPPED"),
])
def test_switchover_refused_without_any_change(installed, lab_exec, make, code):
    active = wait_for("a settled cluster", lambda: settled(lab_exec))
    passive = "node2" if active == "node1" else "node1"
    undo = make(lab_exec, passive)
    try:
        # the cluster reacts to the injected condition by itself (a standby peer stops DRBD there, and DRBD's
        # fence-peer handler then adds its constraint): let that settle before taking the version
        lab_exec("node1", ["crm_resource", "--wait", "--timeout=120s"])
        # left as it was: crm_resource --wait does not cover DRBD's fence-peer handler adding its constraint, and
        # nothing says when that is over for every injected condition
        time.sleep(2)
        before = config_version(lab_exec)
        audit = next(Path(installed["state_dir"]).glob("*/audit.jsonl"))  # <state dir>/<cluster id>/
        seen = len(audit.read_text().splitlines()) if audit.exists() else 0
        rc, report = switchover(installed)
        after = config_version(lab_exec)
        entries = [json.loads(line) for line in audit.read_text().splitlines()[seen:]]
        assert entries and not [e for e in entries if e["mutating"]], "a refused switchover ran a changing command"
        assert rc == 1 and report["refused"], report
        assert code in [g["code"] for g in report["gates"] if g["status"] == "FAIL"], report["gates"]
        assert after == before, "a refused switchover changed the CIB configuration"
        assert crm(lab_exec).where(names.GROUP) == active
    finally:
        undo()
    wait_for("the cluster to settle again", lambda: settled(lab_exec), 180)


def send_mail(address: str, subject: str) -> None:
    with smtplib.SMTP(address, 25, timeout=10) as smtp:
        smtp.sendmail("ops@example.org", ["alice@example.com"], f"Subject: {subject}\r\n\r\nkept\r\n")


def read_subjects(address: str) -> list[str]:
    import imaplib
    imap = imaplib.IMAP4(address, 143, timeout=10)
    imap.login("alice@example.com", "any")
    _, data = imap.select("INBOX")
    out = [imap.fetch(str(n), "(BODY[])")[1][0][1].decode() for n in range(1, int(data[0]) + 1)]
    imap.logout()
    return out


def test_upgrade_killed_midway_then_rerun_finishes(installed, lab_exec):
    lab = installed["lab"]
    wait_for("a settled cluster", lambda: settled(lab_exec))
    send_mail(lab["vip"], "before the upgrade")
    package = lab["packages"]["10.5.1"]
    env = {**os.environ, "AXHA_STATE_DIR": str(installed["state_dir"])}
    proc = subprocess.Popen([sys.executable, "-m", "axha.tui.cli", "upgrade", "--package", package, "--yes",
                             "--cluster", lab["cluster_file"]], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "Following the transition" in line:  # in the middle of the switchover: the worst moment
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert any("Following the transition" in line for line in seen), "".join(seen)[-2000:]
    out = axha(lab, installed["state_dir"], "upgrade", "--package", package, "--yes", timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    assert_runs(lab, lab_exec, "10.5.1")
    assert any("before the upgrade" in m for m in read_subjects(lab["vip"]))
    # a finished upgrade is history: a downgrade and the upgrade again are new operations that both work
    for version in ("10.5.0", "10.5.1"):
        out = axha(lab, installed["state_dir"], "upgrade", "--package", lab["packages"][version], "--yes",
                   timeout=600)
        assert out.returncode == 0, (version, out.stdout[-3000:] + out.stderr[-1000:])
        assert_runs(lab, lab_exec, version)
    assert any("before the upgrade" in m for m in read_subjects(lab["vip"]))


def assert_runs(lab, lab_exec, version):
    """Both nodes have `version` (package database and the binary), the active node runs it (its CLI's GET VERSION),
    the passive node runs no Axigen, the VIP greets like Axigen (no version in it), no constraint is left."""
    for node in ("node1", "node2"):
        assert axigen_versions.upstream_version(run(lab_exec, node, "dpkg-query", "-W", "-f", "${Version}", "axigen")) == version
        assert axigen_versions.parse_binary_version(run(lab_exec, node, "/opt/axigen/bin/axigen", "--version")) == version
    active = crm(lab_exec).where(names.GROUP)
    passive = "node2" if active == "node1" else "node1"
    assert axigen_versions.parse_cli_version(run(lab_exec, active, *axigen_versions.cli_version_argv())) == version
    assert lab_exec(passive, ["pgrep", "-f", "/opt/axigen/bin/[a]xigen"]).returncode == 1
    answer = service_answer(lab["vip"], "smtp", 25)
    assert answer.ok and answer.banner == f"220 {active} Axigen ESMTP ready", answer
    assert [c.id for c in leftovers(lab_exec)] == []


def test_install_bound_the_mail_listeners_to_the_vip_and_rebinds_an_old_install(installed, lab_exec):
    """AXIGEN.md: Axigen listens on 127.0.0.1 by default; after the install the mail listeners are on the VIP in
    run/axigen.cfg on the mail store, the CLI stays on the loopback, and the running version is read there. A
    configuration put back on the loopback (an older axha's install) is rebound by the next install run."""
    lab = installed["lab"]
    active = wait_for("a settled cluster", lambda: settled(lab_exec))
    cfg = run(lab_exec, active, "cat", axigen.config_path())
    assert axigen_cfg.bound_to(cfg, lab["vip"])[0], cfg
    assert {(lst.service, lst.address) for lst in axigen_cfg.listeners(axigen_cfg.parse_config(cfg))} >= {
        ("smtpIncoming", f"{lab['vip']}:25"), ("imap", f"{lab['vip']}:143"), ("pop3", f"{lab['vip']}:110"),
        ("cli", "127.0.0.1:7000")}
    assert axigen_versions.parse_cli_version(run(lab_exec, active, *axigen_versions.cli_version_argv())) is not None
    loopback_smtp = lab_exec(active, ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/25"])
    assert loopback_smtp.returncode != 0            # nothing listens there any more
    run(lab_exec, active, "sed", "-i", f"s/{lab['vip']}:/127.0.0.1:/", axigen.config_path())
    out = axha(lab, installed["state_dir"], "install", "--yes", timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    assert "Restart Axigen on" in out.stderr and "smtpIncoming 127.0.0.1:25 ->" in out.stdout   # --yes says so
    now = wait_for("a settled cluster", lambda: settled(lab_exec))
    assert axigen_cfg.bound_to(run(lab_exec, now, "cat", axigen.config_path()), lab["vip"])[0]
    assert service_answer(lab["vip"], "smtp", 25).ok
    again = axha(lab, installed["state_dir"], "install", "--plan", timeout=300)
    assert again.returncode == 0 and "plan: nothing to do" in again.stdout, again.stdout[-2000:]


def test_status_json_contract(installed, lab_exec):
    out = axha(installed["lab"], installed["state_dir"], "status", "--json", timeout=60)
    state = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout[-2000:]
    assert state["active_node"] == crm(lab_exec).where(names.GROUP)
    assert [n["name"] for n in state["nodes"]] == ["node1", "node2"]
    assert all(n["online"] and not n["standby"] and n["axigen_version"] and n["axigen_binary"]
               for n in state["nodes"])
    by_name = {n["name"]: n for n in state["nodes"]}
    assert by_name[state["active_node"]]["axigen_running"] == by_name[state["active_node"]]["axigen_binary"]
    assert [n["axigen_running"] for n in state["nodes"] if n["name"] != state["active_node"]] == [None]
    for node in ("node1", "node2"):
        assert {"role", "disk", "peer_disk", "connection", "sync_percent"} <= set(state["drbd"][node])
    assert len(state["links"]) == 4 and all(link["up"] for link in state["links"])
    assert state["failed_actions"] == [] and state["leftover_constraints"] == []
    assert state["service_answers"]["smtp"]["ok"] and state["service_answers"]["imap"]["ok"]


async def test_dashboard_switchover_with_one_key_and_confirmation(installed, lab_exec, monkeypatch):
    """The real TUI on the lab: it opens on maintenance, `s` shows the confirmation (gates + preview), typing the
    target node's name moves the service, and the dashboard follows it."""
    import re

    from tests.app.test_maintenance import text_of
    from axha.tui.app import AxhaApp
    from axha.tui.dialogs.confirm import TypedConfirm
    monkeypatch.setenv("AXHA_STATE_DIR", str(installed["state_dir"]))
    before = wait_for("a settled cluster", lambda: settled(lab_exec))
    app = AxhaApp(installed["lab"]["cluster_file"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_in_app(pilot, lambda: f"Service on {before}" in text_of(app), f"Service on {before}", 30)
        await pilot.press("s")
        await wait_for_dialog(pilot, TypedConfirm, "typed", 30)   # the question, ready for keys
        await wait_in_app(pilot, lambda: "Gates" in text_of(app), "the gates in the question", 10)
        after = "node2" if before == "node1" else "node1"
        await pilot.press(*after, "enter")
        await wait_in_app(pilot, lambda: re.search(rf"Service on {after}", text_of(app)), f"Service on {after}", 90)
        await wait_in_app(pilot, lambda: any("Switchover: done" in line for line in app.log_lines),
                          "'Switchover: done' in the log", 30)
    assert crm(lab_exec).where(names.GROUP) == after
    assert [c.id for c in leftovers(lab_exec)] == []


def test_split_brain_detected_and_recovered_discarding_the_passive_node(installed, lab_exec):
    lab = installed["lab"]
    active = wait_for("a settled cluster", lambda: settled(lab_exec))
    passive = "node2" if active == "node1" else "node1"
    run(lab_exec, active, "drbd-standin-ctl", "axigen", "split-brain")
    status = json.loads(wait_for("the split brain to show", lambda: (lambda o: o.stdout if json.loads(
        o.stdout)["split_brain"]["detected"] else None)(axha(lab, installed["state_dir"], "status", "--json")), 60))
    evidence = status["split_brain"]["evidence"]
    assert evidence[active]["role"] == "Primary" and evidence[passive]["connection"] == "StandAlone"
    refused = axha(lab, installed["state_dir"], "split-brain-recover", "--discard", active, "--yes")
    assert refused.returncode == 1 and "runs the mail service" in refused.stdout
    out = axha(lab, installed["state_dir"], "split-brain-recover", "--discard", passive, "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    assert wait_for("DRBD in sync and no leftover", lambda: settled(lab_exec) and not leftovers(lab_exec), 120)
    assert crm(lab_exec).where(names.GROUP) == active


def test_standby_maintenance_backup(installed, lab_exec, tmp_path):
    lab, state_dir = installed["lab"], installed["state_dir"]
    active = wait_for("a settled cluster", lambda: settled(lab_exec))
    out = axha(lab, state_dir, "standby", active)
    assert out.returncode == 0, out.stdout + out.stderr
    status = crm(lab_exec)
    assert status.node(active).standby and status.where(names.GROUP) not in (None, active)
    out = axha(lab, state_dir, "unstandby", active)
    assert out.returncode == 0 and not crm(lab_exec).node(active).standby, out.stdout
    out = axha(lab, state_dir, "maintenance", "on")
    assert out.returncode == 0 and crm(lab_exec).maintenance_mode, out.stdout
    out = axha(lab, state_dir, "maintenance", "off")
    assert out.returncode == 0 and not crm(lab_exec).maintenance_mode, out.stdout
    out = axha(lab, state_dir, "backup", "--output", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    import tarfile
    archives = sorted(tmp_path.glob("*/*.tar.gz"))
    assert [a.name for a in archives] == ["node1.tar.gz", "node2.tar.gz"]
    names_in = tarfile.open(archives[0]).getnames()
    assert {"cib.xml", "etc/corosync/corosync.conf", "etc/drbd.d/axigen.res"} <= set(names_in)
    wait_for("the cluster to settle again", lambda: settled(lab_exec), 120)
