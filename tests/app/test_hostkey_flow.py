"""End to end: a worker's SSH connection meets an unknown host key, the TUI dialog shows the real fingerprint, the
admin accepts, and the key lands in known_hosts (real throwaway sshd; root only)."""
from __future__ import annotations

import os
import threading

import pytest

from axha.steps.spec_load import parse_cluster
from tests.sshd_server import start_sshd, stop_sshd
from tests.waiting import wait_for, wait_for_dialog
from axha.tui.app import AxhaApp
from axha.tui.dialogs.confirm import HostKeyDialog

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")


async def test_unknown_host_key_dialog_accept_writes_known_hosts(tmp_path, monkeypatch):
    monkeypatch.setenv("AXHA_STATE_DIR", str(tmp_path / "state"))
    server = start_sshd(tmp_path / "sshd")
    known = tmp_path / "known_hosts"
    text = f"""
cluster: hk
ssh: {{key_file: {server.client_key}, known_hosts: {known}}}
nodes:
  - {{name: node1, ssh_address: 127.0.0.1, ssh_port: {server.port}, backing_disk: /dev/vdb,
      link0: {{address: 10.0.0.1, interface: l0}}, link1: {{address: 10.0.1.1, interface: l1}},
      bmc: {{address: 127.0.0.71, user: admin}}}}
  - {{name: node2, ssh_address: 127.0.0.2, ssh_port: {server.port}, backing_disk: /dev/vdb,
      link0: {{address: 10.0.0.2, interface: l0}}, link1: {{address: 10.0.1.2, interface: l1}},
      bmc: {{address: 127.0.0.72, user: admin}}}}
vip: {{address: 10.0.0.100, cidr: 24, interface: l0}}
"""
    spec = parse_cluster(text, str(tmp_path / "hk.yaml"))
    app = AxhaApp(startup_checks=False)
    outcome: dict = {}

    def worker():
        ctx = app.open_context()
        try:
            outcome["out"] = ctx.runner("node1").run(["echo", "connected"]).stdout
        except Exception as exc:  # reported to the test
            outcome["error"] = exc
        finally:
            ctx.runner("node1").close()

    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.spec = spec
            thread = threading.Thread(target=worker)
            thread.start()
            # the dialog composed, mounted and its focus on Refuse: before that there is no #fingerprint to read
            # and the keys below would go to the screen under it
            dialog = await wait_for_dialog(pilot, HostKeyDialog, "cancel")
            fingerprint = str(dialog.query_one("#fingerprint").content)
            assert fingerprint == server.fingerprint()
            await pilot.press("tab", "enter")  # from Refuse to Accept
            await wait_for(pilot, lambda: not thread.is_alive(), "the worker's command to finish after Accept")
            thread.join()
            assert outcome.get("out") == "connected\n", outcome
            assert any("accepted by the admin" in line for line in app.log_lines)
    finally:
        stop_sshd(server)
    assert f"[127.0.0.1]:{server.port} ssh-ed25519 " in known.read_text()
