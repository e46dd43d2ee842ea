"""The mail service as a client sees it: the SMTP and IMAP greeting on an address (the VIP), read the same way by
the dashboard, the switchover, the upgrade and the install's verification."""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

SERVICE_PORTS = (("smtp", 25), ("imap", 143))


@dataclass(frozen=True)
class ServiceAnswer:
    protocol: str
    port: int
    ok: bool
    banner: str = ""
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "port": self.port, "ok": self.ok, "banner": self.banner,
                "error": self.error, "seconds": round(self.seconds, 3)}


_GOOD = {"smtp": "220", "imap": "* OK", "pop3": "+OK"}
_BYE = {"smtp": b"QUIT\r\n", "imap": b"a1 LOGOUT\r\n", "pop3": b"QUIT\r\n"}


def service_answer(address: str, protocol: str, port: int, timeout: float = 3.0) -> ServiceAnswer:
    """Connect, read the greeting, say goodbye. ok = the greeting is the protocol's positive answer."""
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 1024:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
            try:
                sock.sendall(_BYE.get(protocol, b"QUIT\r\n"))
            except OSError:
                pass
    except OSError as exc:
        return ServiceAnswer(protocol, port, False, error=str(exc) or type(exc).__name__,
                             seconds=time.monotonic() - start)
    banner = data.decode(errors="replace").strip().splitlines()[0] if data.strip() else ""
    ok = banner.startswith(_GOOD.get(protocol, ""))
    return ServiceAnswer(protocol, port, ok, banner=banner, error="" if ok else "no greeting" if not banner else
                         "unexpected greeting", seconds=time.monotonic() - start)


def service_answers(address: str, timeout: float = 3.0) -> tuple[ServiceAnswer, ...]:
    return tuple(service_answer(address, proto, port, timeout) for proto, port in SERVICE_PORTS)
