"""The one wait helper of the app tests: poll a condition while the app runs (never a fixed sleep), with a
timeout generous enough for a busy 2-core machine and a message that says what did not happen."""
from __future__ import annotations

import time


async def wait_for(pilot, condition, what: str = "the condition", timeout: float = 20.0) -> None:
    """Poll `condition()` every 50 ms of app time until it holds; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    assert condition(), f"timed out after {timeout:.0f} s waiting for {what}"
