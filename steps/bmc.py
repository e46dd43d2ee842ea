"""BmcClient: IPMI power state and power actions through pyghmi, with hard deadlines and plain-language errors.

pyghmi's Command keeps process-wide session state (Session.bmc_handlers, initting_sessions, keepalive sessions
driven by one shared wait_for_rsp loop) and blocks in that loop; a call cannot be interrupted from outside. So
each BmcClient call runs pyghmi in a short-lived child process (`python -m steps.bmc`, request as JSON on stdin,
so the password is never in argv), which is killed at the deadline. No session state leaks between calls or
threads, and a hung BMC never hangs axha.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from steps.errors import ConnectError

ACTIONS = ("on", "off", "cycle", "reset", "shutdown")
_REPO = str(Path(__file__).resolve().parents[1])


class BmcError(ConnectError):
    """A BMC could not be reached, refused us, or did not do what was asked."""


class BmcAuthError(BmcError):
    """The BMC refused the user name or password."""


class BmcUnreachable(BmcError):
    """No answer from the BMC (wrong address or port, network, BMC down)."""


class BmcCipherError(BmcError):
    """The BMC refused the cipher suite (pyghmi speaks IPMI 2.0 lanplus with suite 3)."""


def classify(message: str, where: str, node: str | None, timeout: float) -> BmcError:
    """Turn a pyghmi error message into one of our errors, in plain language (never containing the password)."""
    low = message.lower()
    if "incorrect password" in low:
        return BmcAuthError(f"the BMC at {where} refused the password", node=node,
                            remedy="Check the BMC password in the secrets file / AXHA_BMC_PASSWORD*.")
    if "unauthorized name" in low or "invalid username" in low:
        return BmcAuthError(f"the BMC at {where} does not know that user name", node=node,
                            remedy="Check bmc.user in the cluster file (the IPMI user, e.g. ADMIN or root).")
    if "cipher suite" in low or "invalid authentication algorithm" in low or "invalid integrity" in low \
            or "confidentiality algorithm" in low:
        return BmcCipherError(f"the BMC at {where} refused the cipher suite ({message})", node=node,
                              remedy="Enable IPMI over LAN with cipher suite 3 (RAKP-HMAC-SHA1, AES-CBC-128) "
                                     "in the BMC's settings.")
    if "timeout" in low or "timed out" in low or "no longer connected" in low or "failed to initialize" in low \
            or "disconnected" in low:
        return BmcUnreachable(f"no answer from the BMC at {where} within {timeout:g} s", node=node,
                              remedy="Check the BMC address and port, that IPMI over LAN is enabled, and that "
                                     "UDP port 623 is not filtered.")
    if "unreachable" in low or "name or service not known" in low or "no route" in low:
        return BmcUnreachable(f"cannot reach the BMC at {where}: {message}", node=node,
                              remedy="Check the BMC address and the network path.")
    return BmcError(f"the BMC at {where} failed: {message}", node=node)


class BmcClient:
    """One node's BMC. Thread-safe (no shared state); every call has a deadline."""

    def __init__(self, address: str, user: str, password: str, port: int = 623, timeout: float = 10.0, *,
                 node: str | None = None, audit=None):
        self.address, self.user, self.port, self.timeout = address, user, port, timeout
        self.node, self.audit = node, audit
        self._password = password
        if audit is not None and password:
            audit.redactor.add(password)

    def __repr__(self) -> str:
        return f"BmcClient({self.user}@{self.address}:{self.port})"

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}" if self.port != 623 else self.address

    def power_state(self) -> str:
        """'on' or 'off'."""
        return self._call({"op": "state"}, self.timeout)["state"]

    def power(self, action: str, wait: bool = True) -> str:
        """Power on/off/cycle/reset/shutdown. With wait, on/off/shutdown return once the state is reached
        (within the timeout, at least 30 s) and return it; otherwise the requested state is returned."""
        if action not in ACTIONS:
            raise ValueError(f"unknown power action {action!r}; expected one of {', '.join(ACTIONS)}")
        wait_s = max(30.0, self.timeout) if wait and action in ("on", "off", "shutdown") else 0
        return self._call({"op": "power", "action": action, "wait": int(wait_s)}, self.timeout + wait_s)["state"]

    def _call(self, request: dict, deadline: float) -> dict:
        payload = dict(request, address=self.address, port=self.port, user=self.user, password=self._password,
                       timeout=self.timeout)
        started = time.monotonic()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_REPO, os.environ.get("PYTHONPATH")])))
        try:
            proc = subprocess.run([sys.executable, "-m", "steps.bmc"], input=json.dumps(payload),
                                  capture_output=True, text=True, timeout=deadline + 5, env=env)
        except subprocess.TimeoutExpired:
            error: BmcError = BmcUnreachable(f"no answer from the BMC at {self.where} within {deadline:g} s",
                                             node=self.node, remedy="Check the BMC address, port and network.")
            self._note(request, f"failed: {error}", started)
            raise error from None
        try:
            answer = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            error = BmcError(f"the BMC helper failed (exit {proc.returncode}): "
                             f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}", node=self.node)
            self._note(request, f"failed: {error}", started)
            raise error from None
        if "error" in answer:
            error = classify(answer["error"], self.where, self.node, deadline)
            self._note(request, f"failed: {error}", started)
            raise error
        self._note(request, f"-> {answer['state']}", started)
        return answer

    def _note(self, request: dict, outcome: str, started: float) -> None:
        if self.audit is None:
            return
        what = "power state" if request["op"] == "state" else f"power {request['action']}"
        self.audit.note(self.node or self.address, f"BMC {self.user}@{self.where}: {what} {outcome} "
                                                   f"({time.monotonic() - started:.1f} s)")


# ---------------------------------------------------------------- the child process side


def _serve(request: dict) -> dict:
    from pyghmi.ipmi.command import Command

    ipmi = Command(request["address"], request["user"], request["password"], port=request["port"],
                   keepalive=False)
    if request["op"] == "state":
        return {"state": ipmi.get_power()["powerstate"]}
    action, wait = request["action"], request.get("wait") or False
    if action == "cycle":
        response = ipmi.raw_command(netfn=0, command=2, data=[2])
        if "error" in response:
            return {"error": str(response["error"])}
        return {"state": "cycle"}
    result = ipmi.set_power(action, wait=wait)
    return {"state": result.get("powerstate") or result.get("pendingpowerstate") or action}


def _child_main() -> int:
    try:
        request = json.loads(sys.stdin.read())
    except ValueError:
        print(json.dumps({"error": "bad request"}))
        return 2
    try:
        answer = _serve(request)
    except Exception as exc:  # reported to the parent, classified there
        # pyghmi raises IpmiException(None) when the login got no answer at all
        answer = {"error": str(exc.args[0]) if exc.args and exc.args[0] else "timeout: no response to the login"}
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
