"""The lab's BMC processes on the host (`python -m axha_lab.bmc`, the IPMI server of lab/bmc.py): find, start, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from axha_lab.host import clean_env
from axha_lab.layout import BMC_PORT, BMC_USER, REPO_DIR, Layout, LabError


# ---------------------------------------------------------------- BMC processes

def _cmdline(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def bmc_pids(instance: int, node: str) -> list[int]:
    """PIDs of `python -m axha_lab.bmc --instance N --node NODE` processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(entry)
        if "axha_lab.bmc" in argv and _opt(argv, "--instance") == str(instance) and _opt(argv, "--node") == node:
            found.append(int(entry))
    return found


def _opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _udp_listening(address: str, port: int) -> bool:
    want = "".join(f"{int(b):02X}" for b in reversed(address.split("."))) + f":{port:04X}"
    try:
        return any(line.split()[1] == want for line in Path("/proc/net/udp").read_text().splitlines()[1:])
    except OSError:
        return False


def bmc_python() -> str:
    venv = REPO_DIR / ".venv/bin/python"
    return str(venv) if venv.exists() else sys.executable


def bmc_start(instance: int, node: str, *, wait: float = 10.0) -> None:
    """Start the node's IPMI BMC (A3's lab/bmc.py) on the host bridge, unless it runs already."""
    layout = Layout(instance)
    nl = layout.node(node)
    if bmc_pids(instance, node):
        return
    if not (REPO_DIR / "lab/bmc.py").exists():
        raise LabError("lab/bmc.py (the IPMI BMC server) is not in this tree yet")
    with open(nl.bmc_log, "ab") as log:
        proc = subprocess.Popen([bmc_python(), "-m", "axha_lab.bmc", "--instance", str(instance), "--node", node,
                          "--address", nl.bmc_address, "--port", str(BMC_PORT), "--user", BMC_USER,
                          "--password-file", str(nl.bmc_password_file)],
                         cwd=str(REPO_DIR), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, env=clean_env(PYTHONPATH=str(REPO_DIR)))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _udp_listening(nl.bmc_address, BMC_PORT):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise LabError(f"the BMC of {node} did not come up on {nl.bmc_address}:{BMC_PORT}; see {nl.bmc_log}")


def bmc_stop(instance: int, node: str) -> None:
    for pid in bmc_pids(instance, node):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while bmc_pids(instance, node) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in bmc_pids(instance, node):
        os.kill(pid, signal.SIGKILL)
