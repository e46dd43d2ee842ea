"""The command palette's view of a screen's keys: every action of the screen, by name, with its key; and the
same rows for the Keys page (F1)."""
from __future__ import annotations

import re
from functools import partial
from typing import Iterable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


def key_words(key: str) -> str:
    """'ctrl+s' -> 'Ctrl+S', 'f2' -> 'F2', 's' -> 's', 'escape' -> 'Esc' (as the admin presses it)."""
    *mods, last = key.split(",")[0].split("+")
    if re.fullmatch(r"f\d+", last) or (mods and len(last) == 1):
        last = last.upper()
    else:
        last = {"escape": "Esc", "enter": "Enter", "end": "End", "home": "Home"}.get(last, last)
    return "+".join([m.capitalize() for m in mods] + [last])


def screen_bindings(screen) -> list[Binding]:
    """The screen's own key bindings (shown in the footer or not), in the order the screen declares them."""
    out: list[Binding] = []
    for cls in reversed(type(screen).__mro__):
        for b in cls.__dict__.get("BINDINGS", ()):
            if isinstance(b, Binding) and not b.system and b.key not in ("tab", "shift+tab") \
                    and b.action not in ("screen.copy_text",):
                out = [o for o in out if o.key != b.key] + [b]
    return out


def words(binding: Binding) -> str:
    """What a key does, in the longest words the binding has (the tooltip, else the footer label)."""
    return binding.tooltip or binding.description or binding.action


def key_rows(screen, app_bindings: Iterable[Binding] = ()) -> list[tuple[str, str]]:
    """(key, what it does) for the Keys page: the screen's keys, then the app's; ('', heading) between."""
    title = getattr(screen, "KEYS_TITLE", None) or type(screen).__name__.replace("Screen", "")
    rows = [("", f"{title} keys")]
    rows += [(key_words(b.key), words(b)) for b in screen_bindings(screen)]
    app_rows = [(key_words(b.key), words(b)) for b in app_bindings]
    if app_rows:
        rows += [("", "Everywhere")] + app_rows
    return rows


class KeyCommands(Provider):
    """Every key binding of the screen the palette was opened on, as `Title  [key]`."""

    def _commands(self):
        """(title with its key, the call, help): 'Switchover (key s)', its explanation under it."""
        screen = self.screen
        for b in screen_bindings(screen):
            title, _, help_ = words(b).partition(": ")
            if not help_ or len(title) > 40:
                title, help_ = words(b), ""
            yield f"{title} (key {key_words(b.key)})", partial(screen.run_action, b.action), help_

    async def discover(self) -> Hits:
        for title, call, help_ in self._commands():
            yield DiscoveryHit(title, call, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, call, help_ in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), call, help=help_)
