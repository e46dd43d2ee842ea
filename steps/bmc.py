"""BmcClient: IPMI power state and power actions through pyghmi, with hard deadlines and plain-language errors.

pyghmi's Command keeps process-wide session state (Session.bmc_handlers, initting_sessions, keepalive sessions
driven by one shared wait_for_rsp loop) and blocks in that loop; a call cannot be interrupted from outside. So
each BmcClient call runs pyghmi in a short-lived child process (this module, request as JSON on stdin, so the
password is never in argv), which is killed at the deadline. No session state leaks between calls or threads, and
a hung BMC never hangs axha.

The child gets both BMC passwords, so it must run this very file: it starts as `python -I -m axha.steps.bmc`
(isolated: no current directory, PYTHONPATH or user site on sys.path, no PYTHON* variables), so the module comes
from the installed `axha` package and never from a steps/bmc.py in the current directory (the old `python -m
steps.bmc` ran that one). Its environment carries no AXHA_* secret either (steps.envsecrets.child_environment).
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Callable

from axha.steps.errors import ConnectError

ACTIONS = ("on", "off", "cycle", "reset", "shutdown")


def helper_argv() -> list[str]:
    """The BMC helper's command line: this interpreter, isolated (-I: no current directory, no PYTHON* variables,
    no user site on sys.path), running this module by its installed name."""
    return [sys.executable, "-I", "-m", "axha.steps.bmc"]


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

    def _payload(self, request: dict) -> dict:
        return dict(request, address=self.address, port=self.port, user=self.user, password=self._password,
                    timeout=self.timeout)

    def _call(self, request: dict, deadline: float) -> dict:
        payload = self._payload(request)
        started = time.monotonic()
        env = _child_env()
        try:
            proc = subprocess.run(helper_argv(), input=json.dumps(payload),
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


def power_states(clients, on_result: Callable[[int, object], None] | None = None) -> list:
    """Each client's power state, or the BmcError that says why not, in the order given; on_result(index, value)
    is called as each arrives, so one silent BMC does not hold back the other's answer. BmcClients are asked
    together from one child process (one thread per BMC inside it: one interpreter start instead of one per
    BMC); anything else with a power_state() method (a replay in tests) is simply called."""
    results: list = [None] * len(clients)

    def deliver(i: int, value) -> None:
        results[i] = value
        if on_result is not None:
            on_result(i, value)

    batch = [(i, c) for i, c in enumerate(clients) if isinstance(c, BmcClient)]
    for i, client in enumerate(clients):
        if not isinstance(client, BmcClient):
            try:
                deliver(i, client.power_state())
            except Exception as exc:  # noqa: BLE001 - returned, as for the batch
                deliver(i, exc)
    if not batch:
        return results
    deadline = max(c.timeout for _, c in batch)
    request = {"op": "states", "targets": [c._payload({"op": "state"}) for _, c in batch]}
    started = time.monotonic()
    done: set[int] = set()

    def answer_for(position: int, answer: dict | None) -> None:
        i, client = batch[position]
        if answer is None:
            error: BmcError = BmcUnreachable(f"no answer from the BMC at {client.where} within {deadline:g} s",
                                             node=client.node, remedy="Check the BMC address, port and network.")
        elif "error" in answer:
            error = classify(answer["error"], client.where, client.node, client.timeout)
        else:
            client._note({"op": "state"}, f"-> {answer['state']}", started)
            deliver(i, answer["state"])
            return
        client._note({"op": "state"}, f"failed: {error}", started)
        deliver(i, error)

    proc = subprocess.Popen(helper_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=_child_env())
    killer = threading.Timer(deadline + 5, proc.kill)  # the hard deadline: EOF on stdout follows the kill
    killer.start()
    try:
        try:
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
        except OSError:
            pass
        for line in proc.stdout:
            try:
                answer = json.loads(line)
                position = int(answer.pop("index"))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if 0 <= position < len(batch) and position not in done:
                done.add(position)
                answer_for(position, answer)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    for position in range(len(batch)):
        if position not in done:
            answer_for(position, None)
    return results


def _child_env() -> dict:
    from axha.steps.envsecrets import child_environment

    return child_environment()


# ---------------------------------------------------------------- the child process side

WAKE_S = 0.02  # the longest pyghmi's caller sleeps before looking at packets that already arrived


def prompt_pyghmi_wakeups() -> None:
    """Work around a lost wakeup in pyghmi's I/O loop (pyghmi 1.6.19, private/session.py): when an answer
    arrives between a caller's look at its packet queue and its registering a wait (`_io_wait`), the I/O
    thread has already passed that packet on and nothing wakes the caller until its retry deadline, so a
    request answered in a millisecond took about a second (seen in tcpdump: the BMC's reply at once, the
    client's next packet 0.86 s later), often on a busy machine or with two clients at once. Waiting in short
    slices bounds that to WAKE_S; each caller loops until its answer or its own deadline, so the result is
    the same. Idempotent; a pyghmi without `_io_wait` is left alone."""
    from pyghmi.ipmi.private import session

    original = getattr(session, "_io_wait", None)
    if original is None or getattr(original, "axha_sliced", False):
        return

    def sliced(timeout, myaddr=None, evq=None):
        return original(WAKE_S if timeout is None else min(timeout, WAKE_S), myaddr, evq)

    sliced.axha_sliced = True
    session._io_wait = sliced


def _chassis_state(request: dict) -> dict:
    """Power state from IPMI's Get Chassis Status (netfn 0, command 1; byte 0 bit 0 = power on), the command
    ipmitool and fence_ipmilan read. pyghmi's Command.get_power would first identify the BMC's vendor (more
    round trips, and ~60 ms importing its OEM modules) for a bit every BMC reports the same way."""
    from pyghmi.ipmi.private import session

    ipmi = session.Session(bmc=request["address"], userid=request["user"], password=request["password"],
                           port=request["port"])
    try:
        response = ipmi.raw_command(netfn=0, command=1)
    finally:
        try:
            ipmi.logout()
        except Exception:  # noqa: BLE001 - the answer is what matters; the BMC expires the session anyway
            pass
    if "error" in response:
        return {"error": str(response["error"])}
    data = response.get("data") or b""
    if not data:
        return {"error": "the BMC answered Get Chassis Status without data"}
    return {"state": "on" if data[0] & 1 else "off"}


def _serve(request: dict) -> dict:
    if request["op"] == "state":
        return _chassis_state(request)
    from pyghmi.ipmi.command import Command

    ipmi = Command(request["address"], request["user"], request["password"], port=request["port"],
                   keepalive=False)
    action, wait = request["action"], request.get("wait") or False
    if action == "cycle":
        response = ipmi.raw_command(netfn=0, command=2, data=[2])
        if "error" in response:
            return {"error": str(response["error"])}
        return {"state": "cycle"}
    result = ipmi.set_power(action, wait=wait)
    return {"state": result.get("powerstate") or result.get("pendingpowerstate") or action}


def _answer(request: dict) -> dict:
    for attempt in (1, 2):
        try:
            return _serve(request)
        except AttributeError as exc:
            # pyghmi 1.5's session race: _mark_broken() calls logout(), which sets `broken`, before it sets
            # `errormsg`, and a Session constructor waiting in another thread (two sessions to one BMC at once)
            # reads the missing attribute (pyghmi/ipmi/private/session.py, Session.__init__ and _mark_broken).
            # Not an answer of the BMC: ask once more, then report it as pyghmi's failure.
            if attempt == 2:
                return {"error": f"pyghmi failed: {exc}"}
        except Exception as exc:  # reported to the parent, classified there
            # pyghmi raises IpmiException(None) when the login got no answer at all
            return {"error": str(exc.args[0]) if exc.args and exc.args[0] else "timeout: no response to the login"}
    return {"error": "not reached"}


def _child_main() -> int:
    try:
        request = json.loads(sys.stdin.read())
    except ValueError:
        print(json.dumps({"error": "bad request"}))
        return 2
    prompt_pyghmi_wakeups()  # once, before any pyghmi session of this process
    if request.get("op") != "states":
        print(json.dumps(_answer(request)), flush=True)
        return 0
    # several BMCs' power state at once, one thread each; each answer is printed as it comes
    import threading

    lock = threading.Lock()

    def one(index: int, target: dict) -> None:
        answer = dict(_answer(dict(target, op="state")), index=index)
        with lock:
            print(json.dumps(answer), flush=True)

    threads = [threading.Thread(target=one, args=(i, t), daemon=True) for i, t in enumerate(request["targets"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
