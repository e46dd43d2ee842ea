"""lab.bmc served for real on 127.0.0.x, driven by real IPMI clients (pyghmi, ipmitool, fence_ipmilan).

The only stand-in is the power backend: a module that records calls in a JSON file instead of
killing a lab node (lab.bmc's --power-module option).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from axha_lab import bmc as lab_bmc

from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "admin", "Lab-bmc-secret1"

FAKE_POWER = textwrap.dedent('''
    """Recording power backend for lab.bmc tests: state and calls in $FAKE_POWER_FILE."""
    import json, os
    PATH = os.environ["FAKE_POWER_FILE"]
    def _load():
        with open(PATH) as f:
            return json.load(f)
    def _save(d):
        with open(PATH + ".tmp", "w") as f:
            json.dump(d, f)
        os.replace(PATH + ".tmp", PATH)
    def _act(call, instance, node, new=None):
        d = _load()
        d["calls"].append([call, instance, node])
        if call in d.get("fail", []):
            _save(d)
            raise RuntimeError("node backend unavailable")
        if new:
            d["state"] = new
        _save(d)
        return d["state"]
    def power_state(instance, node): return _act("state", instance, node)
    def power_on(instance, node): _act("on", instance, node, "on")
    def power_off(instance, node): _act("off", instance, node, "off")
''')

# pyghmi's client keeps process-wide sessions; each client runs in its own process, as
# fence agents and the product do, so one test's session never leaks into another.
PYGHMI_CLIENT = textwrap.dedent('''
    import json, sys
    from pyghmi.ipmi.command import Command
    req = json.load(sys.stdin)
    out = []
    try:
        ipmi = Command(req["address"], req["user"], req["password"], port=req["port"])
        for op in req["ops"]:
            out.append(ipmi.get_power() if op == "get" else ipmi.set_power(op))
    except Exception as error:
        out.append({"error": type(error).__name__ + ": " + str(error)})
    print(json.dumps(out))
''')


def pyghmi(srv, *ops: str, user: str = USER, password: str = PASSWORD) -> list[dict]:
    """Run pyghmi's Command(...) against the server; the password goes through stdin."""
    request = dict(address=srv.address, port=srv.port, user=user, password=password, ops=list(ops))
    result = subprocess.run([sys.executable, "-c", PYGHMI_CLIENT], input=json.dumps(request),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


needs_ipmitool = pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool not installed")
needs_fence = pytest.mark.skipif(shutil.which("fence_ipmilan") is None, reason="fence_ipmilan not installed")


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Server:
    """A `python -m axha_lab.bmc` process and its recording backend."""

    def __init__(self, tmp: Path, address: str, state: str = "on"):
        self.tmp, self.address = tmp, address
        self.port = free_udp_port(address)
        (tmp / "fakepower.py").write_text(FAKE_POWER)
        self.state_file = tmp / "power.json"
        self.set(state=state, calls=[])
        password_file = tmp / "bmc.password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        env = dict(os.environ, FAKE_POWER_FILE=str(self.state_file),
                   PYTHONPATH=os.pathsep.join([str(tmp), str(REPO)]))
        self.stderr = open(tmp / "bmc.stderr", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axha_lab.bmc", "--instance", "4", "--node", "node1",
             "--address", address, "--port", str(self.port), "--user", USER,
             "--password-file", str(password_file), "--power-module", "fakepower"],
            cwd=REPO, env=env, stderr=self.stderr, stdout=subprocess.DEVNULL)
        wait_until(self.listening, lambda: "axha_lab.bmc to listen: " + self.log(), timeout=10)

    def listening(self) -> bool:
        assert self.proc.poll() is None, self.log()   # it died: no point waiting
        return "listening on" in self.log()

    def log(self) -> str:
        return (self.tmp / "bmc.stderr").read_text()

    def set(self, **values) -> None:
        data = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        data.update(values)
        self.state_file.write_text(json.dumps(data))

    def power(self) -> dict:
        return json.loads(self.state_file.read_text())

    def actions(self) -> list[str]:
        """The state-changing calls (on/off), in order, with their instance and node checked."""
        calls = self.power()["calls"]
        assert all(c[1:] == [4, "node1"] for c in calls), calls
        return [c[0] for c in calls if c[0] != "state"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=5)
        finally:
            self.stderr.close()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path, "127.0.0.41")
    yield srv
    srv.stop()


def ipmitool(srv: Server, *args: str, password: str = PASSWORD, cipher: str | None = None):
    argv = ["ipmitool", "-I", "lanplus", "-H", srv.address, "-p", str(srv.port), "-U", USER, "-E",
            "-N", "1", "-R", "2"]
    if cipher:
        argv += ["-C", cipher]
    return subprocess.run(argv + list(args), env=dict(os.environ, IPMI_PASSWORD=password),
                          capture_output=True, text=True, timeout=60)


def fence_ipmilan(srv: Server, action: str, password: str = PASSWORD):
    # fence agents read "key=value" options on stdin, which keeps the password out of argv
    options = (f"ip={srv.address}\nipport={srv.port}\nusername={USER}\npassword={password}\n"
               f"lanplus=1\naction={action}\npower_wait=0\n")
    return subprocess.run(["fence_ipmilan"], input=options, capture_output=True, text=True, timeout=60)


def test_pyghmi_reads_power_state(server):
    assert pyghmi(server, "get") == [{"powerstate": "on"}]
    server.set(state="off")
    assert pyghmi(server, "get") == [{"powerstate": "off"}]
    assert server.actions() == []


def test_pyghmi_power_off_on_and_boot(server):
    assert pyghmi(server, "off", "get") == [{"pendingpowerstate": "off"}, {"powerstate": "off"}]
    assert server.power()["state"] == "off"
    assert pyghmi(server, "boot") == [{"pendingpowerstate": "on"}]  # off -> on
    assert server.actions() == ["off", "on"]
    assert pyghmi(server, "boot", "get") == [{"pendingpowerstate": "reset"}, {"powerstate": "on"}]
    assert server.actions() == ["off", "on", "off", "on"]  # reset: a power cut and a boot


def test_pyghmi_wrong_password_is_refused(server):
    assert pyghmi(server, "get", password="not-the-password") == [
        {"error": "IpmiException: Incorrect password provided"}]
    assert server.actions() == []


def test_pyghmi_unknown_user_fails_at_once(server):
    started = time.monotonic()
    assert pyghmi(server, "get") == [{"powerstate": "on"}]
    baseline = time.monotonic() - started   # a client process with one exchange, on this machine now
    started = time.monotonic()
    assert pyghmi(server, "get", user="intruder") == [{"error": "IpmiException: Unauthorized name in RAKP2"}]
    # the behaviour under test: refused by the answer, not by the client giving up on a silent BMC (pyghmi waits
    # 5 s for one); derived from the good exchange in the same conditions, not a fixed 5 s
    assert time.monotonic() - started < baseline + 2.5


@needs_ipmitool
def test_ipmitool_power_status_and_off(server):
    status = ipmitool(server, "power", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "Chassis Power is on"
    off = ipmitool(server, "power", "off")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "Chassis Power Control: Down/Off"
    assert ipmitool(server, "power", "status").stdout.strip() == "Chassis Power is off"
    assert server.actions() == ["off"]


@needs_ipmitool
def test_ipmitool_suite17_gets_no_matching_cipher_suite(server):
    # Our server speaks suite 3 only: a suite-17 request is refused with RMCP+ status 0x11,
    # which ipmitool reports by name (pyghmi's stock server would have said "ok").
    result = ipmitool(server, "power", "status", cipher="17")
    assert result.returncode != 0
    assert "no matching cipher suite" in result.stderr


@needs_ipmitool
def test_ipmitool_wrong_password(server):
    result = ipmitool(server, "power", "status", password="not-the-password")
    assert result.returncode != 0
    assert "Unable to establish IPMI v2 / RMCP+ session" in result.stderr


@needs_fence
def test_fence_ipmilan_status_off_on_reboot(server):
    status = fence_ipmilan(server, "status")
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr
    off = fence_ipmilan(server, "off")
    assert (off.returncode, off.stdout.strip()) == (0, "Success: Powered OFF"), off.stderr
    status = fence_ipmilan(server, "status")
    assert (status.returncode, status.stdout.strip()) == (2, "Status: OFF")  # fence agents: 2 = off
    on = fence_ipmilan(server, "on")
    assert (on.returncode, on.stdout.strip()) == (0, "Success: Powered ON"), on.stderr
    reboot = fence_ipmilan(server, "reboot")
    assert (reboot.returncode, reboot.stdout.strip()) == (0, "Success: Rebooted"), reboot.stderr
    assert server.actions() == ["off", "on", "off", "on"]


@needs_fence
def test_fence_ipmilan_wrong_password(server):
    result = fence_ipmilan(server, "status", password="not-the-password")
    assert result.returncode == 1
    assert "Unable to obtain correct plug status" in result.stderr
    assert "not-the-password" not in result.stderr + result.stdout


def test_backend_failure_answers_error_and_keeps_serving(server):
    server.set(fail=["off"])
    [answer] = pyghmi(server, "off")
    assert answer["error"].startswith("IpmiException")
    assert "chassis control failed: RuntimeError: node backend unavailable" in server.log()
    server.set(fail=[])
    assert pyghmi(server, "get") == [{"powerstate": "on"}]


def test_password_not_in_argv_and_sigterm_stops_cleanly(server):
    cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
    assert PASSWORD.encode() not in cmdline
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 3   # the behaviour under test: SIGTERM alone stops it, promptly
    assert server.log().endswith("stopping (signal)\n")
    # the UDP port is free again: nothing is left answering
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((server.address, server.port))


def test_password_file_readable_by_others_is_refused(tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text("secret\n")
    password_file.chmod(0o644)
    result = subprocess.run(
        [sys.executable, "-m", "axha_lab.bmc", "--instance", "4", "--node", "node1", "--address", "127.0.0.41",
         "--port", "6231", "--user", USER, "--password-file", str(password_file)],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "readable by others (mode 0644); chmod 600 it" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_busy_port_gives_clear_error(tmp_path, server):
    password_file = tmp_path / "pw2"
    password_file.write_text("secret\n")
    password_file.chmod(0o600)
    result = subprocess.run(
        [sys.executable, "-m", "axha_lab.bmc", "--instance", "4", "--node", "node2", "--address", server.address,
         "--port", str(server.port), "--user", USER, "--password-file", str(password_file)],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on {server.address}:{server.port}/udp: Address already in use" in result.stderr


def test_requested_suite_reads_open_session_request():
    # The two proposals pyghmi's client sends (session.py _open_rmcpplus_request): SHA256 then SHA1.
    head = bytes([1, 0, 0, 0, 0x2A, 0, 0, 0])
    sha256 = head + bytes([0, 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 8, 4, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0])
    sha1 = head + bytes([0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0])
    assert lab_bmc.requested_suite(sha256) == (3, 4, 1)
    assert lab_bmc.requested_suite(sha1) == (1, 1, 1)
    assert lab_bmc.open_session_refusal(sha256) == bytearray([1, 0x11, 0, 0, 0x2A, 0, 0, 0])


def test_node_uuid_is_stable_per_node():
    assert lab_bmc.node_uuid(0, "node1") == lab_bmc.node_uuid(0, "node1")
    assert len({lab_bmc.node_uuid(i, n) for i in (0, 1) for n in ("node1", "node2")}) == 4
