"""A throwaway real OpenSSH server on 127.0.0.1 for tests (root only): host keys, users and keys in a temp dir."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import wait_until

TEST_USER = "axhatest"
TEST_PASSWORD = "Axha-test-pw-4711"


@dataclass
class Sshd:
    port: int
    root: Path
    host_key_pub: Path
    client_key: Path          # authorised for root and TEST_USER
    other_key: Path           # NOT authorised anywhere
    enc_key: Path             # authorised, passphrase protected
    enc_passphrase: str
    known_hosts: Path         # contains the server's host key for [127.0.0.1]:port
    proc: subprocess.Popen
    sudo_user: str | None     # TEST_USER when it exists with NOPASSWD sudo and a password

    def fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-lf", str(self.host_key_pub), "-E", "sha256"], capture_output=True,
                             text=True, check=True).stdout
        return out.split()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path), "-C", path.name],
                   check=True)


def _ensure_user() -> str | None:
    """A local user with a password and NOPASSWD sudo (for the non-root and password tests), or None."""
    if not shutil.which("sudo") or not shutil.which("useradd"):
        return None
    if subprocess.run(["id", TEST_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", TEST_USER], check=True)
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{TEST_PASSWORD}\n", text=True, check=True)
    sudoers = Path(f"/etc/sudoers.d/{TEST_USER}")
    if not sudoers.exists():
        sudoers.write_text(f"{TEST_USER} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
    return TEST_USER


def start_sshd(root: Path) -> Sshd:
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key = root / "ssh_host_ed25519_key"
    client, other, enc = root / "client_key", root / "other_key", root / "enc_key"
    _keygen(host_key)
    _keygen(client)
    _keygen(other)
    _keygen(enc, "correct horse")
    user = _ensure_user()
    auth = root / "authorized_keys"
    auth.write_text(client.with_suffix(".pub").read_text() + enc.with_suffix(".pub").read_text())
    auth.chmod(0o644)
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {root}/sshd.pid
AuthorizedKeysFile {auth}
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LoginGraceTime 60
MaxSessions 64
MaxStartups 64
""")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(root / "sshd.log", "wb"))

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (root / "sshd.log").read_text())
            return False
    wait_until(listening, lambda: f"sshd to listen on port {port}: " + (root / "sshd.log").read_text())
    known = root / "known_hosts"
    key_type, key_b64 = host_key.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key_b64}\n")
    return Sshd(port, root, host_key.with_suffix(".pub"), client, other, enc, "correct horse", known, proc, user)


def stop_sshd(server: Sshd) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(5)
    except subprocess.TimeoutExpired:
        server.proc.kill()
