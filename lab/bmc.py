"""IPMI 2.0 (lanplus) BMC for one lab node: pyghmi's BMC server wired to the node's power."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import signal
import stat
import sys
import threading
import time
import uuid
from typing import Callable, Protocol

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.constants as ipmi_constants
import pyghmi.ipmi.private.serversession as serversession
import pyghmi.ipmi.private.session as ipmisession

# IPMI 2.0 table 13-17/18/19 algorithm numbers of the only suite pyghmi's server speaks (suite 3).
SUITE3_AUTH, SUITE3_INTEGRITY, SUITE3_CONFIDENTIALITY = 1, 1, 1
# RMCP+ status code (IPMI 2.0 table 13-15): "no Cipher Suite match with proposed security algorithms".
RMCP_NO_CIPHER_SUITE_MATCH = 0x11
# Completion codes (IPMI 2.0 table 5-2).
CC_OK, CC_NOT_IN_PRESENT_STATE, CC_UNSPECIFIED = 0x00, 0xD5, 0xFF
# A retransmitted chassis-control request (same client, sequence and data) inside this window is
# answered again without acting twice: a power cycle must not run twice because a client retried.
RETRY_WINDOW_S = 10.0
LAB_UUID_NAMESPACE = uuid.UUID("6f1c1a52-4d3e-4c55-9a37-2f4c0b6a1d01")


class PowerBackend(Protocol):
    """What a BMC needs from the machine it manages."""

    def state(self) -> str: ...  # "on" | "off"

    def on(self) -> None: ...

    def off(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class ModulePower:
    """Power of one lab node through a module exposing power_state/power_on/power_off(instance, node).

    The module (lab.nodes by default) is imported on first use, so the BMC starts without it.
    """

    instance: int
    node: str
    module: str = "axha_lab.nodes"

    def _call(self, name: str):
        return getattr(importlib.import_module(self.module), name)(self.instance, self.node)

    def state(self) -> str:
        return self._call("power_state")

    def on(self) -> None:
        self._call("power_on")

    def off(self) -> None:
        self._call("power_off")


def requested_suite(request: bytes) -> tuple[int, int, int]:
    """(auth, integrity, confidentiality) algorithms of an RMCP+ Open Session Request (table 13-9)."""
    if len(request) < 32:
        return (-1, -1, -1)
    return (request[12] & 0x3F, request[20] & 0x3F, request[28] & 0x3F)


def open_session_refusal(request: bytes, status: int = RMCP_NO_CIPHER_SUITE_MATCH) -> bytearray:
    """An Open Session Response carrying an error: tag, status, reserved, console session id."""
    return bytearray([request[0], status, 0, 0]) + bytearray(request[4:8])


class LabServerSession(serversession.ServerSession):
    """pyghmi's server session, refusing suites it cannot speak instead of pretending to."""

    def create_open_session_response(self, request):
        if requested_suite(bytes(request)) != (SUITE3_AUTH, SUITE3_INTEGRITY, SUITE3_CONFIDENTIALITY):
            # pyghmi's server would answer "ok" and then run SHA1 against a client doing SHA256,
            # so the client's RAKP2 check fails as a wrong password. Saying 0x11 makes clients
            # (pyghmi, ipmitool) retry with suite 3, as they do against real BMCs.
            self.clientsessionid = bytes(request[4:8])
            return open_session_refusal(bytes(request))
        return super().create_open_session_response(request)

    def close_server_session(self):
        # pyghmi keeps every session forever; forget this one once the client closed it (Close Session)
        handlers = ipmisession.Session.bmc_handlers.get(self.sockaddr)
        if handlers is not None and handlers.get(self.bmc.port) is self:
            del handlers[self.bmc.port]
            if not handlers:
                del ipmisession.Session.bmc_handlers[self.sockaddr]

    def _got_rakp1(self, data):
        if data[27] == 0 or self.authdata.get(bytes(data[28:]).decode("utf-8", "replace")) is None:
            # pyghmi stays silent on an unknown user, leaving the client to time out; a real BMC
            # answers RAKP2 with "unauthorized name" (0x0d), so the client fails at once.
            reply = bytearray([data[0], 0x0D, 0, 0]) + bytearray(self.clientsessionid)
            self.send_payload(reply, ipmi_constants.payload_types["rakp2"], retry=False)
            return
        super()._got_rakp1(data)


class LabBmc(pyghmi_bmc.Bmc):
    """One node's BMC: IPMI chassis power commands act on the node's power backend."""

    def __init__(self, power: PowerBackend, user: str, password: str, *, address: str, port: int = 623,
                 bmc_uuid: uuid.UUID | None = None, log: Callable[[str], None] | None = None):
        super().__init__({user: password}, port=port, address=address, bmcuuid=bmc_uuid)
        self.power = power
        self.log = log or (lambda message: None)
        self._recent: dict[tuple, tuple[float, int]] = {}
        self._lock = threading.Lock()

    # --- sessionless traffic: build our session class instead of pyghmi's -----------------------
    def sessionless_data(self, data, sockaddr):
        data = bytearray(data)
        if len(data) >= 22 and data[0] == 6 and data[2:4] == b"\xff\x07" and data[4] == 6 and data[5] == 16:
            LabServerSession(self.authdata, self.kg, sockaddr, self.serversocket, data[16:], self.uuid,
                             bmc=self)
            return
        super().sessionless_data(data, sockaddr)

    # --- what pyghmi's Bmc asks of an implementation --------------------------------------------
    def get_system_guid(self):
        return self.uuid

    def cold_reset(self):
        return CC_OK

    def get_power_state(self):
        return self.power.state()

    def power_off(self):
        self.log("power off")
        self.power.off()

    def power_on(self):
        self.log("power on")
        self.power.on()

    def power_shutdown(self):
        # A lab node has no ACPI; a soft-off request ends like a power button held down.
        self.log("power shutdown (soft off, acting as off)")
        self.power.off()

    def power_cycle(self):
        if self.power.state() != "on":
            return CC_NOT_IN_PRESENT_STATE  # IPMI 2.0 section 28.3: cycle while off may be refused
        self.log("power cycle")
        self.power.off()
        self.power.on()

    def power_reset(self):
        if self.power.state() != "on":
            return CC_NOT_IN_PRESENT_STATE
        self.log("power reset")
        self.power.off()
        self.power.on()

    def control_chassis(self, request, session):
        key = (session.sockaddr, getattr(session, "seqlun", None), tuple(request["data"]))
        now = time.monotonic()
        with self._lock:
            self._recent = {k: v for k, v in self._recent.items() if now - v[0] < RETRY_WINDOW_S}
            if key in self._recent:
                session.send_ipmi_response(code=self._recent[key][1])
                return
        code = CC_OK
        try:
            directive = request["data"][0]
            actions = {0: self.power_off, 1: self.power_on, 2: self.power_cycle, 3: self.power_reset,
                       5: self.power_shutdown}
            if directive not in actions:
                code = 0xCC  # invalid data field (diagnostic interrupt is not wired)
            else:
                code = actions[directive]() or CC_OK
        except Exception as error:  # the backend failed: tell the client, keep serving
            self.log(f"chassis control failed: {type(error).__name__}: {error}")
            code = CC_UNSPECIFIED
        with self._lock:
            self._recent[key] = (now, code)
        session.send_ipmi_response(code=code)

    def get_chassis_status(self, session):
        try:
            state = self.power.state()
        except Exception as error:
            self.log(f"power state failed: {type(error).__name__}: {error}")
            return session.send_ipmi_response(code=CC_UNSPECIFIED)
        session.send_ipmi_response(data=[1 if state == "on" else 0, 0, 0])

    def close(self) -> None:
        """Stop answering: release the UDP socket."""
        sock = self.serversocket
        ipmisession.Session.bmc_handlers.pop(sock, None)
        if sock in ipmisession.iosockets:
            ipmisession.iosockets.remove(sock)
        sock.close()


class Stop(BaseException):
    """Raised from the SIGTERM/SIGINT handler to leave pyghmi's wait loop. A BaseException, like SystemExit: an
    `except Exception` in pyghmi's loop cannot swallow it (a BMC once outlived its SIGTERM by 5 s)."""


# Duplicated on purpose from axha.steps.bmc (the lab never imports the product, nor the product the lab): the
# same lost wakeup in pyghmi's I/O loop (pyghmi 1.6.19 private/session.py `_io_wait`) delays the lab BMC's
# answers as it delays the product's client; see prompt_pyghmi_wakeups there for the tcpdump evidence.
WAKE_S = 0.02


def prompt_pyghmi_wakeups() -> None:
    """Wait in slices of WAKE_S in pyghmi's I/O loop, so a packet that arrived just before a wait is seen at
    once. Idempotent; a pyghmi without `_io_wait` is left alone."""
    original = getattr(ipmisession, "_io_wait", None)
    if original is None or getattr(original, "axha_sliced", False):
        return

    def sliced(timeout, myaddr=None, evq=None):
        return original(WAKE_S if timeout is None else min(timeout, WAKE_S), myaddr, evq)

    sliced.axha_sliced = True
    ipmisession._io_wait = sliced


def serve(bmc: LabBmc, *, ready: Callable[[], None] | None = None) -> int:
    """Answer IPMI until SIGTERM or SIGINT; then release the socket and return 0."""

    def stop(signum, frame):
        raise Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # the same lost wakeup as on the client side: a request queued just before this loop waited was answered
    # only when the 1 s wait ran out; a real BMC answers at once
    prompt_pyghmi_wakeups()
    try:
        if ready:
            ready()
        while True:
            ipmisession.Session.wait_for_rsp(timeout=1)
    except Stop:
        bmc.log("stopping (signal)")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bmc.close()


def read_password_file(path: str) -> str:
    """The first line of a file only its owner may read; refuses group/other access."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise SystemExit(f"axha_lab.bmc: cannot read password file {path}: {error.strerror}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SystemExit(f"axha_lab.bmc: password file {path} is readable by others "
                         f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    with open(path, encoding="utf-8") as handle:
        password = handle.readline().rstrip("\r\n")
    if not password:
        raise SystemExit(f"axha_lab.bmc: password file {path} is empty")
    if len(password.encode()) > 20:
        raise SystemExit(f"axha_lab.bmc: the password in {path} is longer than IPMI's 20 bytes")
    return password


def node_uuid(instance: int, node: str) -> uuid.UUID:
    """A stable system GUID per lab node, the same across BMC restarts."""
    return uuid.uuid5(LAB_UUID_NAMESPACE, f"axha-lab/{instance}/{node}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="axha_lab.bmc", description=__doc__)
    parser.add_argument("--instance", type=int, required=True, help="lab instance number (0..9)")
    parser.add_argument("--node", required=True, help="the node this BMC powers (node1, node2)")
    parser.add_argument("--address", required=True, help="IP address to listen on")
    parser.add_argument("--port", type=int, default=623, help="UDP port (default 623)")
    parser.add_argument("--user", required=True, help="IPMI user name (at most 16 bytes)")
    parser.add_argument("--password-file", required=True, help="file holding the password (mode 0600)")
    parser.add_argument("--power-module", default="axha_lab.nodes",
                        help="module with power_state/power_on/power_off(instance, node) "
                             "(default lab.nodes)")
    args = parser.parse_args(argv)
    if not 0 <= args.instance <= 9:
        parser.error("--instance must be 0..9")
    if not 0 < len(args.user.encode()) <= 16:
        parser.error("--user must be 1..16 bytes (IPMI limit)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    password = read_password_file(args.password_file)

    def log(message: str) -> None:
        print(f"axha_lab.bmc[{args.node}]: {message}", file=sys.stderr, flush=True)

    power = ModulePower(args.instance, args.node, args.power_module)
    try:
        bmc = LabBmc(power, args.user, password, address=args.address, port=args.port,
                     bmc_uuid=node_uuid(args.instance, args.node), log=log)
    except OSError as error:
        log(f"cannot listen on {args.address}:{args.port}/udp: {error.strerror}")
        return 1
    return serve(bmc, ready=lambda: log(f"listening on {args.address}:{args.port}/udp"))


if __name__ == "__main__":
    sys.exit(main())
