"""Preflight on fencing: each node's BMC asked from this machine (pyghmi's answer), from the peer (fence_ipmilan
-o status, run on the peer), and whether it sits on a cluster link's subnet; the fence_ipmilan parser and the
verdicts. Pure functions, no I/O."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from axha.checks.network import nics
from axha.checks.view import NodeView, _f
from axha.steps.framework import FAIL, PASS, SKIP, WARN, Finding


# ---------------------------------------------------------------- fencing


@dataclass(frozen=True)
class FenceStatus:
    """fence_ipmilan -o status from the peer: power state, or why it failed (auth, timeout, missing, failed)."""

    power: str | None
    problem: str = ""  # "", "auth", "timeout", "unreachable", "missing", "failed"
    message: str = ""


def parse_fence_status(text: str, rc: int) -> FenceStatus:
    status = re.search(r"^Status:\s*(ON|OFF)\s*$", text, re.M)
    errors = [ln.split("ERROR:", 1)[1].strip() for ln in text.splitlines() if "ERROR:" in ln]
    details = [ln.split("DEBUG:", 1)[1].strip() for ln in text.splitlines() if "Error:" in ln and "DEBUG:" in ln]
    message = "; ".join(details + errors) or text.strip().splitlines()[-1:][0] if text.strip() else ""
    if status and rc == 0:
        return FenceStatus(status.group(1).lower())
    low = text.lower()
    if rc == 127 or "not installed" in low:
        return FenceStatus(None, "missing", message)
    if "unable to establish ipmi v2 / rmcp+ session" in low or "rakp" in low or "unauthorized name" in low \
            or "invalid user name" in low or "password" in low:
        return FenceStatus(None, "auth", message)
    if "timed out" in low or "timeout" in low or rc == 124:
        return FenceStatus(None, "timeout", message)
    if "unreachable" in low or "no route" in low or "name or service not known" in low:
        return FenceStatus(None, "unreachable", message)
    return FenceStatus(None, "failed", message)


def _bmc_local(view: NodeView) -> list[Finding]:
    if view.bmc_local is None:
        return []
    state, error = view.bmc_local
    where = f"BMC {view.node.bmc.address}:{view.node.bmc.port}"
    if error is None:
        return [_f("BMC_OK", view.name, PASS, f"{where} answers from this machine: power {state}")]
    kind = type(error).__name__
    message = str(error)
    # by the error's class (steps.bmc.classify decided it from pyghmi's own message), never by words in the text:
    # "cannot read password file ..." or a BMC error that mentions a password is not a refused login
    if kind == "BmcAuthError":
        code, remedy = "BMC_AUTH_FAILED", getattr(error, "remedy", "") or (
            "Check the BMC user in the cluster file and the password in the secrets file (bmc_passwords) or "
            "AXHA_BMC_PASSWORD*.")
    elif kind == "BmcUnreachable" and "within" in message:
        code, remedy = "BMC_TIMEOUT", ("No answer in time: check the BMC address and port, that IPMI over LAN is "
                                       "enabled, and that UDP 623 is not filtered between here and the BMC.")
    elif kind == "BmcUnreachable":
        code, remedy = "BMC_UNREACHABLE", "Check the BMC address and the network path to it."
    elif kind == "BmcCipherError":
        code, remedy = "BMC_CIPHER_REFUSED", getattr(error, "remedy", "") or "Enable cipher suite 3 on the BMC."
    elif kind == "InputError":
        code, remedy = "BMC_NO_PASSWORD", getattr(error, "remedy", "")
    else:
        code, remedy = "BMC_ERROR", getattr(error, "remedy", "") or "Check the BMC."
    return [_f(code, view.name, FAIL, f"{where} from this machine: {message}", remedy)]


def _bmc_from_peer(view: NodeView) -> list[Finding]:
    s = view.peer_sections.get("fence_peer")
    peer = view.spec.peer(view.name).name
    if s is None:
        return []
    if s.text.strip() == "not requested":
        return [_f("FENCE_AGENT_NOT_TRIED", view.name, SKIP, f"fence_ipmilan from {peer} not tried: no BMC password "
                   f"for {view.name}", f"Give the BMC password (secrets file bmc_passwords.{view.name} or "
                   "AXHA_BMC_PASSWORD*) to check the fencing path from the peer.")]
    result = parse_fence_status(s.text, s.rc)
    where = f"BMC {view.node.bmc.address}"
    if result.power:
        return [_f("FENCE_AGENT_OK", view.name, PASS,
                   f"{peer} reaches {where} with fence_ipmilan: power {result.power}")]
    codes = {"auth": ("FENCE_AGENT_AUTH_FAILED", "The BMC refused the user or password fence_ipmilan sent from "
                      f"{peer}: check bmc.user and the BMC password; check the BMC allows IPMI over LAN (lanplus)."),
             "timeout": ("FENCE_AGENT_TIMEOUT", f"{peer} gets no answer from {where}: route {peer} to the BMC "
                         "network and open UDP 623 (the survivor must be able to fence)."),
             "unreachable": ("FENCE_AGENT_UNREACHABLE", f"{peer} has no path to {where}: fix routing/VLANs."),
             "missing": ("FENCE_AGENT_MISSING", f"Install fence-agents on {peer} (apt-get install fence-agents)."),
             "failed": ("FENCE_AGENT_FAILED", f"Run fence_ipmilan -o status by hand on {peer} to see why.")}
    code, remedy = codes[result.problem]
    return [_f(code, view.name, FAIL, f"from {peer}, fence_ipmilan -o status on {where} failed: {result.message}",
               remedy)]


def _bmc_subnet(view: NodeView) -> list[Finding]:
    try:
        bmc = ipaddress.ip_address(view.node.bmc.address)
    except ValueError:
        return []
    prefixes = {a: n for nic in nics(view).values() for a, n in nic.addresses}
    out = []
    for which in ("link0", "link1"):
        link = getattr(view.node, which)
        prefix = prefixes.get(link.address, 24)
        net = ipaddress.ip_network(f"{link.address}/{prefix}", strict=False)
        if bmc.version == net.version and bmc in net:
            out.append(_f("BMC_ON_CLUSTER_SUBNET", view.name, WARN,
                          f"BMC {bmc} is on {which}'s subnet {net}",
                          "Put the BMCs on a separate management network: when a cluster link fails, the "
                          "fencing path must not fail with it."))
    return out


def fencing(view: NodeView) -> list[Finding]:
    return _bmc_local(view) + _bmc_from_peer(view) + _bmc_subnet(view)
