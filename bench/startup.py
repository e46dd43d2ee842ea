"""Start-up benchmark: the axha wizard vs a bare Textual app - time to first screen and peak memory, as ratios.

Each run is a fresh `python` subprocess (headless, 80x24) that notes the time at interpreter start, imports and
runs the app, and exits on the first frame its first screen sends to the display (App._display); it reports the elapsed time and
ru_maxrss (peak resident memory). Runs alternate between the two apps; medians are compared.
Targets: time <= 2.0x, peak memory <= 2.5x the bare app.

    python bench/startup.py [--runs 7] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIME_TARGET, MEMORY_TARGET = 2.0, 2.5

CHILD = r'''
import time
T0 = time.perf_counter()
import json, os, resource, sys
kind = sys.argv[1]
if kind == "bare":
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Base(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

    def first_screen(app):
        return app.screen.is_mounted
    make = lambda cls: cls()
else:
    from axha.tui.app import AxhaApp as Base

    def first_screen(app):
        return getattr(app.screen, "name", None) == "inventory" and app.screen.is_mounted
    make = lambda cls: cls(sys.argv[2], startup_checks=False)


class Bench(Base):
    """Exits on the first frame the first screen sends to the display (App._display: the compositor's update)."""

    elapsed = None

    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is not None and self.elapsed is None and first_screen(self) and screen is self.screen:
            self.elapsed = time.perf_counter() - T0
            self.call_later(self.exit)


app = make(Bench)
app.run(headless=True, size=(80, 24))
print(json.dumps({"time": app.elapsed, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def run_once(kind: str, cluster: str) -> dict:
    env = dict(os.environ)
    # like an installed axha (pip compiles .pyc files): let Python cache bytecode even if the caller disabled it
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               AXHA_STATE_DIR=os.environ.get("AXHA_STATE_DIR", "/tmp/axha-bench-state"), TERM="xterm-256color")
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, cluster], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cluster", default=str(REPO / "tests/fixtures/cluster-example.yaml"))
    args = parser.parse_args(argv)
    samples: dict[str, list[dict]] = {"bare": [], "axha": []}
    run_once("bare", args.cluster)  # warm the file cache and .pyc files, not counted
    run_once("axha", args.cluster)
    for _ in range(args.runs):
        for kind in ("bare", "axha"):
            samples[kind].append(run_once(kind, args.cluster))
    med = {kind: {"time": statistics.median(s["time"] for s in runs),
                  "maxrss_kib": statistics.median(s["maxrss_kib"] for s in runs)} for kind, runs in samples.items()}
    ratio_t = med["axha"]["time"] / med["bare"]["time"]
    ratio_m = med["axha"]["maxrss_kib"] / med["bare"]["maxrss_kib"]
    ok = ratio_t <= TIME_TARGET and ratio_m <= MEMORY_TARGET
    if args.json:
        print(json.dumps({"runs": args.runs, "median": med, "time_ratio": ratio_t, "memory_ratio": ratio_m,
                          "targets": {"time": TIME_TARGET, "memory": MEMORY_TARGET}, "ok": ok}))
    else:
        print(f"runs: {args.runs} each, alternating, medians (80x24 headless, first frame of the first screen)")
        print(f"  bare Textual app : {med['bare']['time'] * 1000:7.1f} ms  {med['bare']['maxrss_kib'] / 1024:6.1f} MiB")
        print(f"  axha wizard      : {med['axha']['time'] * 1000:7.1f} ms  {med['axha']['maxrss_kib'] / 1024:6.1f} MiB")
        print(f"  ratio time   {ratio_t:4.2f}x (target <= {TIME_TARGET}x)  {'ok' if ratio_t <= TIME_TARGET else 'OVER'}")
        print(f"  ratio memory {ratio_m:4.2f}x (target <= {MEMORY_TARGET}x)  {'ok' if ratio_m <= MEMORY_TARGET else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
