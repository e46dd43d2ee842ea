"""Opening a Context for a cluster: SSH runners for both nodes, BMC clients, audit log, journal, redaction.

Journals and the cluster they describe: `open_bound_journal(ctx, name)` opens an operation's journal checked
against the live cluster (steps.instance): a journal of an earlier installation of the cluster (another instance
id, or none on the cluster while the journal has one) is set aside as `<name>.json.stale-<time>`; a journal of a
finished operation (Journal.finish(), or every step of `final_steps` done) is kept as `<name>.json.done-<time>`
and a new operation starts; `restart=True` sets the journal aside as `<name>.json.restarted-<time>` first; a journal with progress but no id
(from an axha without ids) is set aside when the cluster has an id (adopt_unbound=True keeps it). It
returns (journal, note): the note (None when there is nothing to say) is for the admin. An operation calls
`journal.finish()` when it has finished. run_steps (the install) does the same by itself.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from axha.steps.audit import AuditLog, Redactor, default_state_dir
from axha.steps.framework import Confirm, Context, refuse_all
from axha.steps.runner import LocalRunner


def cluster_id(spec) -> str:
    """A name for this cluster that two clusters do not share: its name plus a short hash of both nodes' names and
    SSH endpoints. Many clusters keep the default name 'axigen'; keyed by the name alone, one cluster's upgrade
    journal could resume on another and their audit logs would interleave."""
    nodes = sorted(f"{n.name}@{n.ssh_address}:{n.ssh_port}" for n in spec.nodes)
    return f"{spec.name}-{hashlib.sha256(','.join(nodes).encode()).hexdigest()[:8]}"


def state_dir(spec) -> Path:
    """Where this cluster's audit log and journals live: <default_state_dir()>/<cluster id>/."""
    return default_state_dir() / cluster_id(spec)


def state_paths(spec) -> tuple[Path, Path]:
    """(audit log path, journal directory) for a cluster."""
    base = state_dir(spec)
    return base / "audit.jsonl", base / "journal"


def journal_path(spec, name: str) -> Path:
    """The journal file of one operation, e.g. journal_path(spec, "install") -> .../journal/install.json."""
    return state_paths(spec)[1] / f"{name}.json"


def open_journal(spec, name: str):
    from axha.steps.journal import Journal

    return Journal(journal_path(spec, name), cluster_id(spec))


def open_bound_journal(ctx, name: str, *, final_steps=(), restart: bool = False, adopt_unbound: bool = False):
    """(Journal, note or None): the journal of operation `name` for ctx's cluster, never one of another instance
    of it nor one of a finished run (see the module docstring). Reads the instance id on the nodes (ctx.runners).
    A journal with progress but no id (written by an axha without ids) is set aside when the cluster has an id,
    unless adopt_unbound (what the install does: its journal begins before the cluster has an id)."""
    journal = open_journal(ctx.spec, name)
    notes = bind_opened_journal(ctx, journal, name, final_steps=final_steps, restart=restart,
                                adopt_unbound=adopt_unbound)
    return journal, "; ".join(notes) or None


def bind_opened_journal(ctx, journal, name: str, *, final_steps=(), restart: bool = False,
                        adopt_unbound: bool = False) -> list[str]:
    """open_bound_journal for a journal already open (an operation given ctx.journal); the notes."""
    from axha.steps.instance import bind_journal

    notes = []
    if restart:
        aside = journal.set_aside("restarted")
        if aside is not None:
            notes.append(f"{name} restarted: the previous journal is kept as {aside.name}")
    return notes + bind_journal(journal, ctx.runners, ctx.spec.node_names, final_steps=final_steps,
                                adopt_unbound=adopt_unbound)


def restart_journal(spec, name: str):
    """Set the journal of operation `name` aside (the wizard's "restart"); the path it went to, or None."""
    from axha.steps.journal import set_aside_file

    return set_aside_file(journal_path(spec, name), "restarted")


def public_words(spec) -> list[str]:
    """Names from the cluster file that appear in commands and output anyway (a secret equal to one is weak)."""
    words = [spec.name, spec.axigen.service, spec.axigen.package]
    for node in spec.nodes:
        words += [node.name, node.ssh_user, node.bmc.user, node.link0.interface, node.link1.interface]
    return words


def open_audit(spec, secrets=None) -> AuditLog:
    audit = AuditLog(state_paths(spec)[0], Redactor(secrets.values() if secrets is not None else ()))
    return audit


def open_context(spec, secrets, *, audit: AuditLog | None = None, journal=None,
                 accept_host_key: Callable[[Any], bool] | None = None, confirm: Confirm = refuse_all,
                 options: dict | None = None, connect_timeout: float = 10.0) -> Context:
    """A Context with one SshRunner per node and one for the quorum device's arbiter (names.ARBITER, when the
    cluster file has one), connecting lazily, ctx.bmc(node) -> BmcClient, ctx.local, and the
    audit log's Redactor fed with every secret. Cheap: nothing connects until the first command. Its operations
    are journaled (options["journal_operations"]: steps.operation.run_operation gives each its journal)."""
    from axha.steps.secrets import Secrets
    from axha.steps.ssh import SshRunner

    secrets = secrets if secrets is not None else Secrets()
    if audit is None:
        audit = open_audit(spec, secrets)
    audit.redactor.add_public(public_words(spec))
    for value in secrets.values():
        audit.redactor.add(value)
    if audit.redactor.weak_count:
        audit.note("local", f"{audit.redactor.weak_count} secret(s) in use are common words, short numbers or "
                            "shorter than 3 characters: this log masks them only where they stand as a password "
                            "value (masking every occurrence would reveal them); choose longer passwords")
    if isinstance(journal, str):
        journal = open_journal(spec, journal)
    hosts = list(spec.nodes) + ([spec.quorum_device.ssh_target] if spec.quorum_device is not None else [])
    runners = {
        host.name: SshRunner(host, key_file=spec.ssh.key_file, password=secrets.ssh_password,
                             passphrase=secrets.ssh_key_passphrase, known_hosts=spec.ssh.known_hosts, audit=audit,
                             accept_host_key=accept_host_key, connect_timeout=connect_timeout)
        for host in hosts
    }
    clients: dict[str, Any] = {}

    def bmc(name: str):
        if name not in clients:
            from axha.steps.bmc import BmcClient

            node = spec.node(name)
            clients[name] = BmcClient(node.bmc.address, node.bmc.user, secrets.bmc_password(name),
                                      port=node.bmc.port, node=name, audit=audit)
        return clients[name]

    return Context(spec=spec, runners=runners, secrets=secrets, audit=audit, journal=journal, bmc=bmc,
                   confirm=confirm, options={"journal_operations": True, **(options or {})},
                   local=LocalRunner("local", audit))


def close_context(ctx: Context) -> None:
    """Close every SSH connection of a context (safe to call twice)."""
    for runner in ctx.runners.values():
        try:
            runner.close()
        except Exception:  # closing must never mask the real outcome
            pass
