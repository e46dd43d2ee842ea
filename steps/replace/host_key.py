"""The replacement's new SSH host key: shown next to the old fingerprint, replaced in known_hosts only after an
explicit confirmation naming the node (the wizard, a terminal) or `--accept-host-key SHA256:...` naming exactly the
new key (ctx.options["accept_host_key"]). A blanket `--yes` never accepts it: a changed host key is also what an
attacker in the middle looks like."""
from __future__ import annotations

from axha.steps.errors import AxhaError, HostKeyError
from axha.steps.framework import FAIL, PASS, Action, Confirmation, Context, Emit, Finding, OutputLine, Step

PROBE_ARGV = ("uname", "-n")


def probe_key(ctx: Context, node: str) -> HostKeyError | None:
    """None when the node's key is the known one (a command runs); the HostKeyError of a changed or unknown key.
    Any other failure (no answer, refused login) is raised."""
    runner = ctx.runner(node)
    prompt, runner.accept_host_key = getattr(runner, "accept_host_key", None), None   # this step asks, not the
    try:                                                                             # unknown-key prompt
        runner.run(PROBE_ARGV, timeout=30)
    except HostKeyError as exc:
        return exc
    finally:
        runner.accept_host_key = prompt
    return None


class NewHostKey(Step):
    id = "host-key"
    title = "The new server's SSH host key"

    def __init__(self, node: str):
        self.node = node
        self.seen: HostKeyError | None = None

    def check(self, ctx: Context) -> list[Finding]:
        try:
            self.seen = probe_key(ctx, self.node)
        except AxhaError as exc:
            return [Finding("NEW_NODE_UNREACHABLE", self.node, FAIL, f"cannot reach {self.node}: {exc}",
                            f"Power the new server on with a fresh system, SSH at {ctx.spec.node(self.node).ssh_address}"
                            " and the cluster file's SSH user and key authorised, then run again.")]
        if self.seen is None:
            return [Finding("HOST_KEY_KNOWN", self.node, PASS, f"{self.node}'s host key is the one known_hosts has")]
        given = ctx.options.get("accept_host_key")
        fp = self.seen.fingerprint
        if given and given != fp:
            return [Finding("HOST_KEY_MISMATCH", self.node, FAIL,
                            f"{self.node} presents {self.seen.key_type} {fp}, not the {given} you named",
                            "Read the key on the new server's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key"
                            ".pub) and name that one; a different key may be someone in the middle.")]
        if not given and ctx.options.get("yes") and not ctx.options.get("plan"):
            return [Finding("HOST_KEY_NEEDS_FINGERPRINT", self.node, FAIL,
                            f"{self.node} presents a {'new' if self.seen.changed else 'unknown'} host key "
                            f"{self.seen.key_type} {fp}: --yes never accepts a host key",
                            f"Compare it with the new server's console, then pass --accept-host-key {fp}.")]
        return []

    def plan(self, ctx: Context) -> list[Action]:
        if self.seen is None:
            return []
        old = ", ".join(self.seen.old_fingerprints) or "none"
        return [Action(self.node, PROBE_ARGV, f"replace {self.node}'s host key in {getattr(ctx.runner(self.node), 'known_hosts', 'known_hosts')}"
                       f" (old {old}, new {self.seen.key_type} {self.seen.fingerprint}), then log in with it")]

    def confirmation(self, ctx: Context, plan: list[Action]) -> Confirmation | None:
        if ctx.options.get("accept_host_key") == self.seen.fingerprint:
            return None   # the command line named exactly this key
        old = "\n".join(f"  old: {fp}" for fp in self.seen.old_fingerprints) or "  old: (none known)"
        return Confirmation(
            "replace-host-key", f"Accept {self.node}'s new SSH host key?",
            f"{self.node} ({self.seen.hostname}) presents a different host key:\n{old}\n"
            f"  new: {self.seen.key_type} {self.seen.fingerprint}\n"
            "Compare the new one with the server's console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). A changed "
            f"key is what a reinstalled server looks like, and also what a man in the middle looks like.\n"
            f"Type {self.node} to replace the old key in known_hosts.", expected=self.node)

    def apply(self, ctx: Context, plan: list[Action], emit: Emit) -> None:
        wanted = self.seen.fingerprint
        runner = ctx.runner(self.node)
        before = getattr(runner, "replace_host_key", None), getattr(runner, "accept_host_key", None)
        accept = lambda err: err.fingerprint == wanted  # noqa: E731 - exactly the key the admin accepted
        runner.replace_host_key, runner.accept_host_key = accept, accept
        try:
            runner.close()
            super().apply(ctx, plan, emit)
        finally:
            runner.replace_host_key, runner.accept_host_key = before
        emit(OutputLine(self.id, self.node, f"known_hosts now has {self.seen.key_type} {wanted} for {self.node}"))

    def verify(self, ctx: Context) -> list[Finding]:
        try:
            left = probe_key(ctx, self.node)
        except AxhaError as exc:
            return [Finding("HOST_KEY_KNOWN", self.node, FAIL, f"cannot log in to {self.node}: {exc}",
                            "Check the SSH user and key on the new server.")]
        return [Finding("HOST_KEY_KNOWN", self.node, PASS if left is None else FAIL,
                        f"{self.node} logs in with the host key in known_hosts" if left is None else
                        f"{self.node} still presents a key known_hosts does not have: {left}")]
