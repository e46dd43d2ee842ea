"""Benchmark: `axha preflight --json` against Ansible's fact gathering (`ansible -m setup`) on the lab's two nodes.

Both run as fresh processes each round, against the same nodes, with the same SSH key and known_hosts, in the
same run; the medians and their ratio are printed. ansible-core comes from PyPI into a separate venv (created on
first use under --ansible-venv). Usage (root, a lab up or brought up here):

    .venv/bin/python bench/preflight.py [--instance 7] [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lab_up(instance: int, cluster_file: Path) -> dict:
    """`lab up` (quick and harmless when the lab is already up: it keeps the profile) writing a cluster file of
    our own, then the lab's status."""
    lab = [sys.executable, "-m", "axha_lab.cli", "--instance", str(instance)]
    subprocess.run(lab + ["up", "--cluster-file", str(cluster_file)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(lab + ["status", "--json"], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def ansible_venv(path: Path) -> Path:
    ansible = path / "bin" / "ansible"
    if not ansible.exists():
        print(f"installing ansible-core from PyPI into {path} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", "ansible-core"], check=True,
                       stderr=subprocess.DEVNULL)
    return ansible


def inventory(st: dict, workdir: Path) -> Path:
    lines = ["[lab]"]
    for node in st["nodes"]:
        lines.append(f"{node['name']} ansible_host={node['ssh_address']} ansible_port={node['ssh_port']} "
                     f"ansible_user=root ansible_python_interpreter=/usr/bin/python3")
    lines += ["", "[lab:vars]", f"ansible_ssh_private_key_file={st['ssh_key']}",
              f"ansible_ssh_common_args='-o UserKnownHostsFile={st['known_hosts']} -o StrictHostKeyChecking=yes'"]
    path = workdir / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(argv: list[str], env: dict, ok_codes=(0,)) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    if proc.returncode not in ok_codes:
        raise SystemExit(f"{argv[0]} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", type=int, default=int(os.environ.get("AXHA_LAB_INSTANCE", "7")))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ansible-venv", default="/tmp/axha-bench-ansible")
    args = ap.parse_args()

    ansible = ansible_venv(Path(args.ansible_venv))
    with tempfile.TemporaryDirectory(prefix="axha-bench-") as tmp:
        work = Path(tmp)
        st = lab_up(args.instance, work / "axha-lab.yaml")
        inv = inventory(st, work)
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / "cp"),
                   ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   PYTHONPATH=str(REPO))
        # an installed axha has its byte-code cached like any pip-installed package (ansible-core's is, in its
        # venv); this sandbox sets PYTHONDONTWRITEBYTECODE, which would recompile the repo's modules every round
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        axha = [sys.executable, "-m", "axha.tui.cli", "preflight", "--cluster", st["cluster_file"], "--json", "--yes"]
        ans = [str(ansible), "lab", "-i", str(inv), "-m", "setup", "-f", "2"]
        timed(ans, env)  # warm-up: both tools' first run pays for cold caches on the nodes (pyc, apt cache)
        timed(axha, env, ok_codes=(0, 1))
        a_times, b_times = [], []
        facts_axha = facts_ansible = 0
        for i in range(args.rounds):
            # alternate who goes first, so neither always meets warmer caches
            order = [("axha", axha), ("ansible", ans)] if i % 2 == 0 else [("ansible", ans), ("axha", axha)]
            for name, argv in order:
                # a fresh ssh ControlPath dir per round: like axha, every Ansible run starts without a
                # persistent master connection from the round before (within a run Ansible still multiplexes)
                round_env = dict(env, ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / f"cp{i}"))
                elapsed, out = timed(argv, round_env, ok_codes=(0, 1) if name == "axha" else (0,))
                if name == "axha":
                    a_times.append(elapsed)
                    facts_axha = sum(len(json.loads(line).get("findings", [])) for line in out.splitlines()
                                     if line.startswith("{") and '"CheckResult"' in line)
                else:
                    b_times.append(elapsed)
                    facts_ansible = out.count('"ansible_facts"')
            print(f"round {i + 1}: axha {a_times[-1]:.2f} s, ansible -m setup {b_times[-1]:.2f} s", flush=True)
    a, b = statistics.median(a_times), statistics.median(b_times)
    print(f"\naxha preflight --json (both nodes, {facts_axha} verdicts incl. BMC, peer fencing, links, "
          f"storage, RAID): median {a:.2f} s")
    print(f"ansible lab -m setup (facts only, {facts_ansible} hosts, no verdicts): median {b:.2f} s")
    print(f"ratio axha / ansible = {a / b:.2f} (target <= 0.50)")
    return 0 if a / b <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
