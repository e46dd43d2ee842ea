"""paramiko for the SSH runner: imported on first use (without `invoke`), its transport-thread logging kept off the
screen, and an exception in plain words for axha's messages."""
from __future__ import annotations

import logging


def _paramiko():
    """paramiko, imported on first use without `invoke`: paramiko.config imports invoke (a dependency of
    paramiko) only to run ssh_config's `Match exec`, which axha never reads, and that import pulls asyncio and
    unittest.mock in: about 80 ms of every command's start (python -X importtime). invoke stays importable."""
    import sys
    if "paramiko" not in sys.modules and "invoke" not in sys.modules:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # makes `import invoke` fail inside paramiko
        try:
            import paramiko
        finally:
            if sys.modules.get("invoke", 0) is None:
                del sys.modules["invoke"]
    import paramiko
    return paramiko

# paramiko logs transport-thread failures (with tracebacks) that we already turn into ConnectError; without a
# handler Python's last-resort handler would print them on stderr, right over the TUI
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
