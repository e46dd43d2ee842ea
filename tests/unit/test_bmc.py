"""BmcClient against the lab's real IPMI BMC (lab.bmc on 127.0.0.x, pyghmi server) with a recording power backend."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from axha.steps.audit import AuditLog, Redactor
from axha.steps.bmc import BmcAuthError, BmcCipherError, BmcClient, BmcUnreachable, classify, helper_argv
from tests.unit.test_lab_bmc import PASSWORD, USER, Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path, "127.0.0.52")
    yield srv
    srv.stop()


def silent_port() -> int:
    """A UDP port on 127.0.0.53 that nothing listens on (bound, then released): a BMC that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.53", 0))
        return s.getsockname()[1]


def test_power_state_and_actions(server, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl", Redactor())
    client = BmcClient(server.address, USER, PASSWORD, port=server.port, timeout=5, node="node1", audit=audit)
    assert client.power_state() == "on"
    assert client.power("off") == "off"
    assert server.power()["state"] == "off" and client.power_state() == "off"
    assert client.power("on") == "on"
    assert server.actions() == ["off", "on"]
    notes = [e["stdout"] for e in audit.entries()]
    assert any("power off -> off" in n for n in notes)
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text()


def test_wrong_password_is_plain_and_never_leaks(server, tmp_path):
    wrong = "Wr0ng-Passw0rd-xyz"
    audit = AuditLog(tmp_path / "audit.jsonl", Redactor())
    client = BmcClient(server.address, USER, wrong, port=server.port, timeout=5, node="node1", audit=audit)
    argvs: list[str] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            for pid in Path("/proc").iterdir():
                if pid.name.isdigit():
                    try:
                        argvs.append((pid / "cmdline").read_bytes().decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(BmcAuthError) as info:
            client.power_state()
    finally:
        done.set()
        watcher.join()
    assert "refused the password" in str(info.value)
    assert wrong not in info.value.explain() and wrong not in repr(info.value)
    assert wrong not in (tmp_path / "audit.jsonl").read_text()
    assert any("axha.steps.bmc" in a for a in argvs) and not any(wrong in a for a in argvs)
    assert server.actions() == []


def test_unknown_user(server):
    with pytest.raises(BmcAuthError) as info:
        BmcClient(server.address, "intruder", PASSWORD, port=server.port, timeout=5).power_state()
    assert "user name" in str(info.value)


def test_unreachable_closed_port():
    port = silent_port()
    started = time.monotonic()
    with pytest.raises(BmcUnreachable) as info:
        BmcClient("127.0.0.53", USER, PASSWORD, port=port, timeout=3).power_state()
    assert time.monotonic() - started < 15   # the behaviour under test: it gives up (about 6 s when idle), never hangs
    assert "no answer" in str(info.value) and "623" in info.value.remedy


def test_cipher_suite_refusal_message_is_plain():
    from pyghmi.ipmi.private.constants import rmcp_codes

    error = classify(rmcp_codes[0x11], "10.0.0.9", "node1", 10)  # pyghmi's real text for RMCP+ status 0x11
    assert isinstance(error, BmcCipherError) and "cipher suite" in str(error) and "suite 3" in error.remedy


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        BmcClient("127.0.0.1", USER, PASSWORD).power("explode")


def test_power_states_asks_several_bmcs_from_one_child_and_keeps_each_answer(server, tmp_path, monkeypatch):
    import subprocess

    from axha.steps.bmc import power_states

    children: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(argv, *args, **kwargs):
        children.append(list(argv))
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    audit = AuditLog(tmp_path / "audit.jsonl", Redactor())
    good = BmcClient(server.address, USER, PASSWORD, port=server.port, timeout=5, node="node1", audit=audit)
    wrong = BmcClient(server.address, USER, "Wr0ng-Passw0rd-xyz", port=server.port, timeout=5, node="node2",
                      audit=audit)

    class Replayed:  # anything else with power_state() is called as it is
        def power_state(self):
            raise BmcUnreachable("recorded: no answer")

    good_state, wrong_state, replayed = power_states([good, wrong, Replayed()])
    assert good_state == "on"
    assert isinstance(wrong_state, BmcAuthError) and "refused the password" in str(wrong_state)
    assert isinstance(replayed, BmcUnreachable)
    assert len(children) == 1 and children[0] == helper_argv()  # one interpreter for both BMCs
    notes = [e["stdout"] for e in audit.entries()]
    assert any("power state -> on" in n for n in notes) and any("refused the password" in n for n in notes)
    assert "Wr0ng-Passw0rd-xyz" not in (tmp_path / "audit.jsonl").read_text()
    assert server.actions() == []


def test_pyghmi_waits_are_sliced_so_an_early_answer_is_not_left_waiting():
    """pyghmi's `_io_wait(timeout)` sleeps the whole timeout unless a packet from the awaited address arrives
    after the wait was registered; an answer that came just before is only seen at the deadline (about 1 s,
    seen in tcpdump). After prompt_pyghmi_wakeups a wait lasts at most WAKE_S, and the callers loop."""
    import subprocess
    import sys

    from axha.steps.bmc import WAKE_S

    # in a child: pyghmi's I/O thread and socket pool are process-wide
    probe = (
        "import time\n"
        "from pyghmi.ipmi.private import session\n"
        "from axha.steps.bmc import prompt_pyghmi_wakeups\n"
        "session.Session._assignsocket()  # starts pyghmi's I/O thread, as its first session does\n"
        "def wait():\n"
        "    started = time.monotonic()\n"
        "    session._io_wait(0.6, ('127.0.0.54', 623))  # nobody answers from there\n"
        "    return time.monotonic() - started\n"
        "before = wait()\n"
        "prompt_pyghmi_wakeups(); prompt_pyghmi_wakeups()  # idempotent: not sliced twice\n"
        "print(before, wait(), getattr(session._io_wait, 'axha_sliced', False))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                         cwd=Path(__file__).resolve().parents[2])
    before, after, sliced = out.stdout.split()
    assert float(before) >= 0.55  # unpatched: the whole timeout
    assert float(after) < 0.3 and sliced == "True" and WAKE_S <= 0.05   # the upper bound is the behaviour under test


def test_power_states_delivers_each_answer_as_it_arrives(server):
    from axha.steps.bmc import power_states

    port = silent_port()
    silent = BmcClient("127.0.0.53", USER, PASSWORD, port=port, timeout=3, node="node2")
    good = BmcClient(server.address, USER, PASSWORD, port=server.port, timeout=3, node="node1")
    started = time.monotonic()
    arrived: list[tuple[int, object, float]] = []
    power_states([silent, good], lambda i, value: arrived.append((i, value, time.monotonic() - started)))
    total = time.monotonic() - started
    assert [a[0] for a in arrived] == [1, 0]  # the good BMC first, although it was asked second
    assert arrived[0][1] == "on" and isinstance(arrived[1][1], BmcUnreachable)
    assert arrived[0][2] < total - 1.0  # not held back until the silent one gave up


def test_the_helper_runs_the_installed_module_never_one_from_the_working_directory(server, tmp_path, monkeypatch):
    """Issue 11: `python -m steps.bmc` ran a steps/bmc.py from the current directory, which then read both BMC
    passwords on stdin. The helper is isolated (-I) and runs this package's own file; nor does it inherit AXHA_*
    secrets from the environment."""
    import subprocess
    import sys

    planted = tmp_path / "work"
    (planted / "axha" / "steps").mkdir(parents=True)
    (planted / "axha" / "__init__.py").write_text("")
    (planted / "axha" / "steps" / "__init__.py").write_text("")
    stolen = tmp_path / "stolen"
    (planted / "axha" / "steps" / "bmc.py").write_text(
        f"import sys, os\nopen({str(stolen)!r}, 'w').write(sys.stdin.read() + repr(dict(os.environ)))\n"
        "print('{\"state\": \"on\"}')\n")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", str(planted))
    monkeypatch.setenv("AXHA_BMC_PASSWORD", "env-secret-xyz")
    env_seen: list[dict] = []
    real_run = subprocess.run

    def spying_run(argv, *args, **kwargs):
        env_seen.append(kwargs.get("env") or {})
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spying_run)
    client = BmcClient(server.address, USER, PASSWORD, port=server.port, timeout=5, node="node1")
    assert client.power_state() == "on"
    assert not stolen.exists()
    assert env_seen and "AXHA_BMC_PASSWORD" not in env_seen[0] and "PATH" in env_seen[0]
    # the planted module is what `python -m axha.steps.bmc` would have run from there: the test can fail
    real_run([sys.executable, "-m", "axha.steps.bmc"], input="{}", capture_output=True, text=True, timeout=30,
             env=dict(PYTHONPATH=str(planted)))
    assert stolen.exists()


def test_a_pyghmi_session_race_is_asked_again_not_reported_as_the_bmcs_answer(monkeypatch):
    """pyghmi's Session sets `broken` before `errormsg` (_mark_broken -> logout), so a constructor waiting in another
    thread can raise AttributeError: 'Session' object has no attribute 'errormsg' (seen once in a full run with two
    sessions to one BMC). The child asks once more; only a second such failure is reported, as pyghmi's."""
    import axha.steps.bmc as bmc

    calls = []

    def racy(request):
        calls.append(request)
        if len(calls) == 1:
            raise AttributeError("'Session' object has no attribute 'errormsg'")
        return {"error": "Incorrect password provided"}
    monkeypatch.setattr(bmc, "_serve", racy)
    assert bmc._answer({"op": "state"}) == {"error": "Incorrect password provided"} and len(calls) == 2

    def always(request):
        raise AttributeError("'Session' object has no attribute 'errormsg'")
    monkeypatch.setattr(bmc, "_serve", always)
    assert bmc._answer({"op": "state"})["error"].startswith("pyghmi failed:")
