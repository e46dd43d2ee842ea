"""Host packages the lab needs; installed with apt on first use (Debian/Ubuntu, root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from axha_lab.host import clean_env
from axha_lab.layout import LabError

PACKAGES = ("pacemaker", "pacemaker-cli-utils", "corosync", "pcs", "fence-agents", "resource-agents", "drbd-utils",
            "openssh-server", "ipmitool", "iproute2", "tini", "libxml2-utils", "nftables", "e2fsprogs", "xfsprogs",
            "iputils-ping",  # ping: the preflight proves each cluster link end to end
            "corosync-qdevice", "corosync-qnetd")  # the quorum device: qdevice on the nodes, qnetd on the arbiter
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def missing_packages() -> list[str]:
    """Packages of PACKAGES that dpkg does not report as installed."""
    if not shutil.which("dpkg-query"):
        raise LabError("the lab needs a Debian-like system (dpkg/apt); this machine has no dpkg-query")
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES],
                          capture_output=True, text=True, env=clean_env())
    installed = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in PACKAGES if p not in installed]


def ensure_packages() -> None:
    """Install what is missing (policy-rc.d first, so nothing starts on the host itself)."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(f"the lab needs these packages: {' '.join(missing)}; run `axha lab up` as root to install them")
    if not shutil.which("apt-get"):
        raise LabError(f"the lab needs apt-get (Debian/Ubuntu) to install: {' '.join(missing)}")
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# axha lab: never start services on the lab host itself\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    print(f"lab: installing {len(missing)} packages with apt-get: {' '.join(missing)}", file=sys.stderr)
    env = clean_env(DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(argv, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=sys.stderr)
        if subprocess.run(argv, env=env, stdout=sys.stderr).returncode != 0:
            raise LabError(f"apt-get could not install {' '.join(missing)}; see the apt output above")
