"""DRBD split brain: the one rule for its signs, in plain words, over each node's view."""
from __future__ import annotations

from typing import Iterable, Mapping

from axha.steps.drbd_events import Event2
from axha.steps.drbd_status import Resource


# a StandAlone connection is a split brain's sign only when this node has data that could have diverged
DIVERGING_DISKS = ("UpToDate", "Outdated", "Consistent")


def split_brain_signs_of(views: Mapping[str, tuple[str, str, tuple[tuple[str, str], ...]]],
                         helpers: Iterable[Event2] = ()) -> tuple[str, ...]:
    """The one rule for "this looks like a DRBD split brain", in plain words per sign (empty: no sign). views:
    node -> (role, disk, ((peer name, connection state), ...)). Signs: DRBD called its split-brain handler; a
    node's connection is StandAlone while it holds data that could have diverged (DRBD drops to StandAlone after
    detecting a split brain; a StandAlone node with Inconsistent or no data has nothing to diverge); both nodes
    Primary (axha never allows two primaries, so their data diverges)."""
    signs: list[str] = []
    for ev in helpers:
        if ev.verb == "call" and ev.get("helper") in ("split-brain", "initial-split-brain"):
            signs.append(f"DRBD called its {ev.get('helper')} handler for resource {ev.get('name')}")
    for node, (_role, disk, conns) in views.items():
        for peer, state in conns:
            if state == "StandAlone" and disk in DIVERGING_DISKS:
                signs.append(f"{node}: connection to {peer or 'the peer'} is StandAlone with local data "
                             f"{disk} (DRBD disconnects like this after detecting a split brain)")
    primaries = [node for node, (role, _, _) in views.items() if role == "Primary"]
    if len(primaries) > 1:
        signs.append(f"both nodes are Primary ({', '.join(primaries)}): their data can diverge")
    return tuple(signs)


def split_brain_signs(states: Mapping[str, Resource | None], helpers: Iterable[Event2] = ()) -> tuple[str, ...]:
    """split_brain_signs_of for drbdsetup's view of each node (None: not up there)."""
    return split_brain_signs_of({node: (res.role, res.disk, tuple((c.name, c.connection) for c in res.connections))
                                 for node, res in states.items() if res is not None}, helpers)
