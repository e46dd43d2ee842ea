"""Install benchmark: `axha install` on the lab vs a plain scripted `pcs` sequence building the same cluster.

Both runs start from a freshly reset lab (same disks, same sync rate) in the same invocation. For each the wall
time is measured, and the irreducible waits are taken out: the DRBD initial sync (bounded by the lab's sync
rate) and Pacemaker's first election (dc-deadtime). What is left is the tool's own overhead: the commands, the
checks and the verification. The baseline is what an admin would script: drbdadm by hand, then pcs host auth,
pcs cluster setup/start, pcs stonith/resource/constraint create - no checks, no plan, no journal, no verification
beyond waiting for the group to start.

    python bench/install.py [--instance 1] [--json]       (root; brings the lab up when needed)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def axha_run(status: dict, state_dir: str) -> dict:
    """`axha install --yes` on the reset lab; wall time and the waits read from its recorded event stream."""
    events_file = Path(state_dir) / "events.jsonl"
    env = {**os.environ, "AXHA_STATE_DIR": state_dir, "AXHA_RECORD_EVENTS": str(events_file)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "axha.tui.cli", "install", "--cluster", status["cluster_file"], "--yes"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"axha install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    return {"wall_s": wall, **waits_from_events(events)}


def waits_from_events(events: list[dict]) -> dict:
    """The sync wait (first to last progress of the initial sync) and the election wait (from the last
    `systemctl start pacemaker` finishing to the first command after it: the bounded wait for both nodes online)."""
    sync = [e["t"] for e in events if e["event"] == "Progress" and e["step_id"] == "drbd-initial-sync"]
    sync_wait = (max(sync) - min(sync)) if sync else 0.0
    election = 0.0
    pm = [e for e in events if e.get("step_id") == "pacemaker"]
    for i, e in enumerate(pm):
        if e["event"] == "ActionFinished" and e["command"] == "systemctl start pacemaker":
            following = [x for x in pm[i + 1:] if x["event"] == "ActionStarted"]
            if following and following[0]["command"].startswith("cibadmin"):
                election = following[0]["t"] - e["t"]
    return {"sync_wait_s": sync_wait, "election_wait_s": election}


# ---------------------------------------------------------------- the pcs baseline


def pcs_script(spec, secrets, hacluster_password: str) -> list[tuple[str, list[str], str | None]]:
    """(node, argv, stdin) in order: what an admin types, minus the typing."""
    from axha.steps import drbd_resource_file, names
    a, b = spec.nodes
    res = spec.storage.drbd.resource
    dev = spec.storage.data_device
    mount = spec.storage.mount_point
    resfile = drbd_resource_file.render_resource(spec)
    steps: list[tuple[str, list[str], str | None]] = []
    for n in (a, b):
        steps += [(n.name, ["sh", "-c", f"cat > /etc/drbd.d/{res}.res"], resfile),
                  (n.name, ["drbdadm", "create-md", "--force", res], None),
                  (n.name, ["drbdadm", "up", res], None)]
    steps += [(a.name, ["drbdadm", "primary", "--force", res], None),
              (a.name, ["WAIT_SYNC"], None),
              (a.name, ["mkfs.ext4", "-q", dev], None),
              (a.name, ["mount", dev, "/mnt"], None),
              (a.name, ["cp", "-a", f"{mount}/.", "/mnt/"], None),
              (a.name, ["umount", "/mnt"], None),
              (a.name, ["drbdadm", "secondary", res], None)]
    for n in (a, b):
        steps += [(n.name, ["systemctl", "disable", "axigen"], None),
                  (n.name, ["systemctl", "stop", "axigen"], None),
                  (n.name, ["rm", "-f", "/etc/corosync/corosync.conf"], None),
                  (n.name, ["chpasswd"], f"hacluster:{hacluster_password}\n"),
                  (n.name, ["systemctl", "start", "pcsd-ruby"], None),
                  (n.name, ["systemctl", "start", "pcsd"], None)]
    pw = hacluster_password
    steps += [
        (a.name, ["pcs", "host", "auth", a.name, f"addr={a.ssh_address}", b.name, f"addr={b.ssh_address}",
                  "-u", "hacluster", "-p", pw], None),
        (a.name, ["pcs", "cluster", "setup", spec.name, a.name, f"addr={a.link0.address}", f"addr={a.link1.address}",
                  b.name, f"addr={b.link0.address}", f"addr={b.link1.address}", "transport", "knet",
                  "crypto", "cipher=aes256", "hash=sha256"], None),
        (a.name, ["ELECTION", "pcs", "cluster", "start", "--all", "--wait=120"], None),
        (a.name, ["pcs", "cluster", "enable", "--all"], None),
        (a.name, ["pcs", "property", "set", "cluster-recheck-interval=5min", "stonith-action=off"], None),
        (a.name, ["pcs", "resource", "defaults", "update", "resource-stickiness=100", "migration-threshold=3"],
         None),
    ]
    for i, n in enumerate((a, b)):
        extra = ["pcmk_delay_base=10s"] if i == 0 else []
        steps += [(a.name, ["pcs", "stonith", "create", names.fence_device(n.name), "fence_ipmilan",
                            f"ip={n.bmc.address}", f"ipport={n.bmc.port}", f"username={n.bmc.user}",
                            f"password={secrets.bmc_password(n.name)}", "lanplus=1",
                            f"pcmk_host_list={n.name}", *extra], None),
                  (a.name, ["pcs", "constraint", "location", names.fence_device(n.name), "avoids", n.name], None)]
    provider = "axha" if Path(REPO / "lab/rootfs/usr/lib/ocf/resource.d/axha/drbd").exists() else "linbit"
    clone = names.drbd_clone(res)
    steps += [
        (a.name, ["pcs", "resource", "create", names.drbd_primitive(res), f"ocf:{provider}:drbd",
                  f"drbd_resource={res}", "op", "monitor", "interval=29s", "role=Promoted", "op", "monitor",
                  "interval=31s", "role=Unpromoted", "promotable", "promoted-max=1", "promoted-node-max=1",
                  "clone-max=2", "clone-node-max=1", "notify=true"], None),
        (a.name, ["pcs", "resource", "create", names.FS, "ocf:heartbeat:Filesystem", f"device={dev}",
                  f"directory={mount}", f"fstype={spec.storage.filesystem}", "--group", names.GROUP], None),
        (a.name, ["pcs", "resource", "create", names.VIP, "ocf:heartbeat:IPaddr2", f"ip={spec.vip.address}",
                  f"cidr_netmask={spec.vip.cidr}", f"nic={spec.vip.interface}", "--group", names.GROUP], None),
        (a.name, ["pcs", "resource", "create", names.SERVICE, f"lsb:{spec.axigen.service}", "--group", names.GROUP],
         None),
        (a.name, ["pcs", "constraint", "colocation", "add", names.GROUP, "with", "Promoted", clone, "INFINITY"],
         None),
        (a.name, ["pcs", "constraint", "order", "promote", clone, "then", "start", names.GROUP], None),
        (a.name, ["WAIT_GROUP"], None),
    ]
    return steps


def pcs_run(status: dict) -> dict:
    from axha.steps import drbd_argv, drbd_status, names
    from axha.steps.pacemaker import CRM_MON_ARGV
    from axha.steps.pacemaker_status import parse_crm_mon
    from axha.steps.secrets import load_secrets
    from axha.steps.session import close_context, open_context
    from axha.steps.spec_load import load_cluster

    spec = load_cluster(status["cluster_file"])
    secrets = load_secrets(spec)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AXHA_STATE_DIR"] = tmp
        ctx = open_context(spec, secrets)
        waits = {"sync_wait_s": 0.0, "election_wait_s": 0.0}
        start = time.monotonic()
        try:
            for node, argv, stdin in pcs_script(spec, secrets, "bench-" + os.urandom(6).hex()):
                runner = ctx.runner(node)
                if argv == ["WAIT_SYNC"]:
                    t = time.monotonic()
                    while True:
                        out = runner.run(list(drbd_argv.status_argv(spec.storage.drbd.resource)), timeout=30).stdout
                        res = drbd_status.find_resource(drbd_status.parse_status_json(out),
                                                        spec.storage.drbd.resource)
                        if res is not None and res.in_sync:
                            break
                        time.sleep(0.5)
                    waits["sync_wait_s"] = time.monotonic() - t
                    continue
                if argv == ["WAIT_GROUP"]:
                    while True:
                        out = runner.run(list(CRM_MON_ARGV), timeout=30)
                        if out.rc == 0 and parse_crm_mon(out.stdout).where(names.GROUP):
                            break
                        time.sleep(0.5)
                    continue
                timed = argv[0] == "ELECTION"
                argv = argv[1:] if timed else argv
                t = time.monotonic()
                result = runner.run(argv, stdin=stdin, timeout=300, mutating=True)
                for _ in range(30):   # pcsd (ruby) needs a few seconds before it answers: retry like an admin
                    if result.rc == 0 or argv[:3] != ["pcs", "host", "auth"]:
                        break
                    time.sleep(1.0)
                    result = runner.run(argv, stdin=stdin, timeout=300, mutating=True)
                if timed:
                    waits["election_wait_s"] = time.monotonic() - t
                if result.rc != 0 and argv[:2] != ["systemctl", "stop"]:
                    raise SystemExit(f"pcs baseline failed on {node}: {' '.join(argv[:4])}...: "
                                     f"{(result.stderr or result.stdout).strip()[-500:]}")
        finally:
            close_context(ctx)
        return {"wall_s": time.monotonic() - start, **waits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", type=int, default=int(os.environ.get("AXHA_LAB_INSTANCE", "1")))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from axha_lab import core

    cluster_file = Path(tempfile.mkdtemp(prefix="axha-bench-")) / "axha-lab.yaml"
    core.up(args.instance, None, str(cluster_file))
    results = {}
    for name, fn in (("axha", lambda s: axha_run(s, tempfile.mkdtemp(prefix="axha-bench-state-"))),
                     ("pcs", pcs_run)):
        status = core.reset(args.instance)
        status.setdefault("cluster_file", str(cluster_file))
        r = fn(status)
        r["overhead_s"] = r["wall_s"] - r["sync_wait_s"] - r["election_wait_s"]
        results[name] = r
        print(f"{name}: {json.dumps({k: round(v, 1) for k, v in r.items()})}", file=sys.stderr, flush=True)
    results["overhead_ratio_axha_vs_pcs"] = results["axha"]["overhead_s"] / max(results["pcs"]["overhead_s"], 1e-9)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name in ("axha", "pcs"):
            r = results[name]
            print(f"{name:5} wall {r['wall_s']:6.1f} s  sync {r['sync_wait_s']:5.1f} s  election "
                  f"{r['election_wait_s']:5.1f} s  -> own time {r['overhead_s']:6.1f} s")
        print(f"axha's own time / pcs script's own time: {results['overhead_ratio_axha_vs_pcs']:.2f}x "
              "(axha also checks, plans, journals and verifies every step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
