"""`axha lab reinstall NODE [--new-disk] [--new-bmc]`: the node comes back as new hardware with a fresh OS, for
axha's replace-node path: its disk layers reset to the pristine image (the state right after `lab up`), new SSH
host keys and machine id (the lab's known_hosts keeps the OLD keys, as an admin's does: axha must see the change
and ask), optionally a blank new backing disk and a new BMC address (written into the lab's cluster file; the old
address goes silent, like a dead board's)."""
from __future__ import annotations

import secrets
from pathlib import Path

from axha_lab import nodes
from axha_lab.bmc_procs import bmc_pids, bmc_start, bmc_stop
from axha_lab.host import run, say, write_private
from axha_lab.layout import LabError, Layout
from axha_lab.pristine import blank_disk, restore_disk
from axha_lab.provision import generate_host_keys, write_cluster_files


def reinstall(instance: int, node: str, *, new_disk: bool = False, new_bmc: bool = False) -> dict:
    from axha_lab.core import _locked, status

    layout = Layout(instance)
    names = [n.name for n in layout.nodes]
    if node not in names:
        raise LabError(f"{node}: not a node of the lab (nodes: {', '.join(names)})")
    with _locked(instance):
        lab = nodes.read_lab(layout)
        nl = layout.node(node)
        if not (nl.state_dir / "pristine").exists():
            raise LabError(f"no pristine copy of {node}'s disk; run `axha lab down` then `axha lab up`")
        nodes.power_off(instance, node)
        restore_disk(nl)
        for key in (nl.upper_dir / "etc/ssh").glob("ssh_host_*_key*"):
            key.unlink()
        generate_host_keys(nl)
        write_private(nl.upper_dir / "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
        if new_disk:
            dev = lab["loops"][node]
            blank_disk(dev, 16)
        if new_bmc:
            bmc_stop(instance, node)
            address = nl.new_bmc_address
            write_private(nl.state_dir / "bmc.address", address + "\n", 0o644)
            run(["ip", "addr", "replace", f"{address}/32", "dev", layout.bridge])
            write_cluster_files(layout, Path(lab["cluster_file"]))
        nodes.power_on(instance, node)
        nodes.wait_booted(instance, node)
        if not bmc_pids(instance, node):
            bmc_start(instance, node)
        what = ", ".join(w for w, on in (("a blank backing disk", new_disk), (f"a new BMC at {nl.bmc_address}",
                                                                                 new_bmc)) if on)
        say(f"{node} reinstalled: pristine disk, new SSH host keys{', ' + what if what else ''}")
        return status(instance)
