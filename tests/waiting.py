"""Every wait the tests do, in one place: poll a condition, never sleep a guessed time.

A fixed sleep asserts that the machine is fast enough; a poll makes a loaded machine slower, not red. Each wait
has a timeout generous enough for a busy 2-core machine and fails saying what did not happen:
"timed out after 20 s waiting for <what>".

`wait_until` polls state another thread or process sets (the synchronous tests); `wait_for` polls state a Textual
app sets, running the app's messages between polls (the app tests); `wait_for_dialog` waits for a modal dialog to
be ready for keys. `what` may be a string or a function returning one, called only on a timeout (to say the last
state seen)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar, Union

T = TypeVar("T")
What = Union[str, Callable[[], str]]

TIMEOUT = 20.0
"""Seconds a wait may take before the test has failed: far above what any of them needs on an idle machine."""

POLL_INTERVAL = 0.05
"""Seconds between two polls."""


def _failure(what: What, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")


def wait_until(condition: Callable[[], T], what: What, timeout: float = TIMEOUT,
               interval: float = POLL_INTERVAL) -> T:
    """Poll `condition()` until it returns something truthy and return that; fail naming `what` after `timeout`
    seconds. The condition is asked once more at the deadline, so a slow last poll still counts."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(what, timeout)
        time.sleep(interval)


async def wait_for(pilot, condition: Callable[[], T], what: What = "the condition", timeout: float = TIMEOUT,
                   interval: float = POLL_INTERVAL) -> T:
    """Run the app (`pilot.pause(interval)`) until `condition()` is truthy and return that value; fail naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(what, timeout)
        await pilot.pause(interval)


async def wait_for_dialog(pilot, kind: type, focused: str, timeout: float = TIMEOUT):
    """The dialog of class `kind` once it is ready for keys, and return it: on top, composed and mounted, and the
    focus on `focused` (the id of the widget its on_mount focuses, the safe choice). Until then its widgets may not
    exist yet and keys pressed go to the screen below, so a test must not look at it or type into it before."""
    app = pilot.app

    def ready():
        screen, focus = app.screen, app.focused
        if isinstance(screen, kind) and screen.is_mounted and focus is not None and focus.id == focused \
                and focus.screen is screen:
            return screen
        return None

    return await wait_for(pilot, ready, lambda: f"the {kind.__name__} with #{focused} focused (on top: "
                          f"{type(app.screen).__name__}, focus: {getattr(app.focused, 'id', None)})", timeout)
