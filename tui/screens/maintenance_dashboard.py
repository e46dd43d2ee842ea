"""The maintenance screen's dashboard, rendered: pure functions that turn a ClusterState into rich text and
tables (the summary line, the nodes, the resources, the attention list)."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text

# deliberate abbreviations, so that a syncing or split-brain row still fits 80 columns
ROLE_SHORT = {"Primary": "Pri", "Secondary": "Sec", "Unknown": "?"}


def _style_state(state: str) -> str:
    return {"online": "green", "standby": "yellow", "maintenance": "yellow"}.get(state, "bold red")


def _kib(value: int) -> str:
    return f"{value / 1048576:.1f}G" if value >= 1048576 else f"{value / 1024:.0f}M" if value >= 1024 else f"{value}K"


def render_summary(state) -> Text:
    """One line: where the service runs, the DC, quorum, maintenance mode, the VIP's answers."""
    text = Text()
    text.append("Service on ")
    text.append(state.active_node or "NO NODE", style="bold green" if state.active_node else "bold red")
    text.append(f"  DC {state.dc or '-'}  ")
    text.append("quorum" if state.quorum else "NO QUORUM", style="green" if state.quorum else "bold red")
    if state.quorum_device is not None:
        votes = [v["vote"] for v in state.quorum_device["nodes"].values()]
        ok = all(votes)
        text.append("  qdevice ")
        text.append("ok" if ok else f"{sum(votes)}/{len(votes)}", style="green" if ok else "bold red")
    if state.maintenance_mode:
        text.append("  MAINTENANCE MODE", style="bold yellow")
    for a in state.service_answers:
        text.append(f"  {a.protocol.upper()} ")
        text.append("ok" if a.ok else "DOWN", style="green" if a.ok else "bold red")
    active = state.node(state.active_node) if state.active_node else None
    if active is not None and active.axigen_running:
        text.append(f"  runs {active.axigen_running}")  # the CLI's GET VERSION on the active node
    return text


def axigen_cell(n) -> Text:
    """Installed version (package database), `+` when the binary agrees, and the running one (CLI) if it differs."""
    from axha.steps.axigen_versions import same_version, upstream_version

    installed = upstream_version(n.axigen_version)
    if not installed:
        return Text("-")
    text = Text(installed, style="yellow" if n.axigen_binary and not same_version(installed, n.axigen_binary)
                else "")
    if n.axigen_running and not same_version(installed, n.axigen_running):
        text.append(f">{n.axigen_running}", style="bold yellow")  # runs another version than installed
    return text


def render_nodes(state) -> Table:
    """Per node: cluster state, Axigen version, DRBD (role/disk, peer, connection, sync) and both links."""
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False, padding=(0, 1, 0, 0))
    for column in ("Node", "State", "Axigen", "DRBD", "Peer", "Repl/oos", "L0", "L1"):
        table.add_column(column, no_wrap=True)
    for n in state.nodes:
        d = state.drbd_of(n.name)
        links = {l.link: l for l in state.links if l.node == n.name}
        name = Text(n.name + (" *" if n.name == state.active_node else ""), style="bold")
        if d is None:
            drbd, peer, repl = Text("down", style="red"), Text("-"), Text("-")
        else:
            role = ROLE_SHORT.get(d.role, d.role)
            drbd = Text(f"{role}/{d.disk}", style="green" if d.disk == "UpToDate" else "bold red")
            peer = Text(str(d.peer_disk or "-"), style="green" if d.peer_disk == "UpToDate" else "yellow")
            if d.sync_percent is not None:
                repl = Text(f"{d.replication} {d.sync_percent:.0f}%", style="yellow")  # exact % in attention
            else:
                repl = Text(str(d.connection or "-"), style="green" if d.connection == "Connected" else "bold red")
                if d.out_of_sync_kib:
                    repl.append(f" {_kib(d.out_of_sync_kib)}", style="yellow")  # out of sync
        cells = []
        for index in (0, 1):
            link = links.get(index)
            if link is None or link.peer_state == "unknown":
                cells.append(Text("?", style="yellow"))  # not read (node unreachable or corosync stopped)
            else:
                # the peer's exact state (disconnected, ...) is in the attention list
                cells.append(Text("up" if link.up else "DOWN", style="green" if link.up else "bold white on red"))
        table.add_row(name, Text(n.state, style=_style_state(n.state)), axigen_cell(n), drbd, peer, repl,
                      *cells)
    return table


def render_resources(state) -> Text:
    """Fence devices and the group's members, one compact line each."""
    text = Text()
    text.append("Fencing: ")
    if not state.fencing:
        text.append("none configured", style="bold red")
    for f in state.fencing:
        text.append(f"{f['id']} ")
        text.append(f"{f['role']}" + (f"@{f['node']}" if f["node"] else ""),
                    style="green" if f["active"] else "bold red")
        text.append("  ")
    text.append("\nGroup: ")
    members = [r for r in state.resources if r.get("parent") == "axigen-group"]
    if not members:
        text.append("not configured", style="bold red")
    for r in members:
        text.append(f"{r['id']} ")
        where = r["nodes"][0] if r["nodes"] else ""
        text.append(f"{r['role']}" + (f"@{where}" if where else ""),
                    style="green" if r["role"] == "Started" else "bold red")
        text.append("  ")
    return text


def render_attention(state) -> Text:
    """Warnings (loud ones red), failed actions, leftover constraints; or a green all-clear."""
    text = Text()
    if not state.warnings:
        text.append("All healthy: both nodes online, DRBD in sync, both links up, fencing started.", style="green")
        return text
    for i, w in enumerate(state.warnings):
        if i:
            text.append("\n")
        text.append("!! " if w.loud else " - ", style="bold red" if w.loud else "yellow")
        text.append(w.text, style="bold red" if w.code in ("LINK_DOWN", "SPLIT_BRAIN") else "")
    if state.split_brain.detected:
        for node, ev in state.split_brain.evidence:
            text.append(f"\n   {node}: {ev['role']} {ev['disk']} {ev['connection']} out-of-sync "
                        f"{ev['out_of_sync_kib']} KiB gi {ev.get('data_generation') or '?'}"
                        f"{' (Pacemaker promoted it)' if ev.get('pacemaker_promoted_here') else ''}")
    return text
