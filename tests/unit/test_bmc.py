"""BmcClient against the lab's real IPMI BMC (lab.bmc on 127.0.0.x, pyghmi server) with a recording power backend."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from steps.audit import AuditLog, Redactor
from steps.bmc import BmcAuthError, BmcCipherError, BmcClient, BmcUnreachable, classify
from tests.unit.test_lab_bmc import PASSWORD, USER, Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path, "127.0.0.52")
    yield srv
    srv.stop()


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
    assert any("steps.bmc" in a for a in argvs) and not any(wrong in a for a in argvs)
    assert server.actions() == []


def test_unknown_user(server):
    with pytest.raises(BmcAuthError) as info:
        BmcClient(server.address, "intruder", PASSWORD, port=server.port, timeout=5).power_state()
    assert "user name" in str(info.value)


def test_unreachable_closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.53", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(BmcUnreachable) as info:
        BmcClient("127.0.0.53", USER, PASSWORD, port=port, timeout=3).power_state()
    assert time.monotonic() - started < 15
    assert "no answer" in str(info.value) and "623" in info.value.remedy


def test_cipher_suite_refusal_message_is_plain():
    from pyghmi.ipmi.private.constants import rmcp_codes

    error = classify(rmcp_codes[0x11], "10.0.0.9", "node1", 10)  # pyghmi's real text for RMCP+ status 0x11
    assert isinstance(error, BmcCipherError) and "cipher suite" in str(error) and "suite 3" in error.remedy


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        BmcClient("127.0.0.1", USER, PASSWORD).power("explode")
