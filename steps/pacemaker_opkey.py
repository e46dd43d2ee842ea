"""Pacemaker's operation keys (`RSC_ACTION_INTERVAL`, as in a failed action's op_key) split as Pacemaker splits
them (pure)."""
from __future__ import annotations

import re

# Operation names that contain an underscore, and notify prefixes, as parse_op_key() lists them
# (lib/common/actions.c, HEAD 0a519a6e lines 277-360; lib/common/operations.c in 2.1.x).
_ACTIONS_WITH_UNDERBARS = ("migrate_from", "migrate_to")
_ACTION_PREFIXES_WITH_UNDERBARS = ("pre_notify", "post_notify", "confirmed-pre_notify", "confirmed-post_notify")


def _match_before(key: str, position: int, matches: tuple[str, ...]) -> int:
    """Index of the underbar before one of `matches` that ends at `position`, else 0 (actions.c match_before)."""
    for match in matches:
        if position > len(match) + 1:
            possible = position - len(match) - 1
            if key[possible] == "_" and key[possible + 1:].startswith(match):
                return possible
    return 0


def parse_op_key(key: str) -> tuple[str, str, int] | None:
    """`RSC_ACTION_INTERVAL` -> (rsc, action, interval ms), None when it is not an operation key.

    A port of Pacemaker's parse_op_key() (lib/common/actions.c, HEAD 0a519a6e lines 277-360), checked against its
    unit test lib/common/tests/actions/parse_op_key_test.c: the interval is after the last underbar, the action
    before it, except the actions and notify prefixes that contain underbars themselves."""
    if len(key) < 5:
        return None
    interval_underbar = len(key) - 2
    while interval_underbar > 2 and key[interval_underbar] != "_":
        interval_underbar -= 1
    if interval_underbar == 2:
        return None
    # convert_interval() is strtoul(): the leading digits, 0 when there are none (it fails only on overflow)
    interval = int(re.match(r"\d*", key[interval_underbar + 1:]).group() or 0)
    action_underbar = _match_before(key, interval_underbar, _ACTIONS_WITH_UNDERBARS)
    if action_underbar == 0:
        action_underbar = interval_underbar - 2
        while action_underbar > 0 and key[action_underbar] != "_":
            action_underbar -= 1
        if action_underbar == 0:
            return None
    possible = _match_before(key, action_underbar, _ACTION_PREFIXES_WITH_UNDERBARS)
    if possible:
        action_underbar = possible
    return key[:action_underbar], key[action_underbar + 1:interval_underbar], interval
