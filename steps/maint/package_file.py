"""The Axigen package the admin gives an upgrade (`--package`): a .deb, an .rpm or the vendor's .run installer,
checked as a plain regular file of bounded size and read for its name and version before anything runs."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from axha.steps.errors import AxhaError, InputError
from axha.steps.files import FileProblem, read_regular

REMOTE_PKG_DIR = "/var/cache/axha"
RUN_NAME = re.compile(r"axigen-(?P<version>\d+(?:\.\d+)+(?:-\d+)?)\.[A-Za-z0-9_]+\.(?P<kind>deb|rpm)\.run")


def _local(argv: list[str], what: str, remedy: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                             env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    except FileNotFoundError:
        raise InputError(f"{argv[0]} is needed on this machine to read {what}", remedy=remedy) from None
    except subprocess.TimeoutExpired:
        raise InputError(f"{argv[0]} did not answer within 30 s reading {what}") from None
    if out.returncode != 0 or not out.stdout.strip():
        raise InputError(f"{what} is not readable: {out.stderr.strip()[:200]}",
                         remedy="Pass the Axigen package (.deb, .rpm or the vendor's .run installer).")
    return out.stdout.strip()


def deb_field(path: str, field: str) -> str:
    """A control field of a local .deb (dpkg-deb -f)."""
    return _local(["dpkg-deb", "-f", path, field], f"{path} (a .deb)",
                  "apt-get install dpkg, or pass --version instead of --package")


def rpm_field(path: str, tag: str) -> str:
    """A header tag of a local .rpm (rpm -qp --qf)."""
    return _local(["rpm", "-qp", "--qf", "%{" + tag + "}", path], f"{path} (an .rpm)",
                  "install rpm on this machine, or pass --version instead of --package")


# a package file's name goes into a remote path, the plan and the audit log: plain characters only
PACKAGE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,199}")
MAX_PACKAGE_BYTES = 4 << 30   # Axigen's packages are a few hundred MB; the upload holds the file in memory


def check_package_file(path: str) -> str:
    """The absolute path of `path` if it names a regular file of at most MAX_PACKAGE_BYTES with a plain name
    (InputError otherwise). Opened without blocking, so a FIFO is refused instead of hanging dpkg-deb; the absolute
    form never reads as an option to dpkg-deb, rpm or tar."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise InputError("--package: the path holds a control character", remedy="Pass the path of the package file.")
    absolute = os.path.abspath(path)
    name = Path(absolute).name
    if not PACKAGE_FILE_NAME.fullmatch(name):
        raise InputError(f"--package {name!r}: a package file name is letters, digits and . _ + ~ - only",
                         remedy="Rename the file (e.g. axigen_10.5.1-1_amd64.deb) or copy it under a plain name.")
    try:
        fd = os.open(absolute, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise InputError(f"{path}: no such package file",
                         remedy="Pass the path of the Axigen .deb, .rpm or the vendor's .run installer.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open the package file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file", remedy="Pass the path of the package file itself.")
    if st.st_size > MAX_PACKAGE_BYTES:
        raise InputError(f"{path}: {st.st_size} bytes, more than the {MAX_PACKAGE_BYTES} an Axigen package has",
                         remedy="Pass the Axigen package (.deb, .rpm or the vendor's .run installer).")
    return absolute


def read_package_bytes(path: str) -> bytes:
    """The package file's bytes, from the descriptor whose type and size were checked (it could have been swapped
    for a FIFO or a device since the plan was made)."""
    try:
        data, _ = read_regular(path, MAX_PACKAGE_BYTES)
    except FileProblem as problem:
        raise InputError(f"{path}: {problem}") from None
    return data


@dataclass(frozen=True)
class PackageFile:
    """The package the admin gave: its kind (deb | rpm | run), name and version, read before anything runs."""

    path: str
    kind: str
    name: str
    version: str
    wrapped: str = ""       # deb | rpm: what a vendor .run installer wraps

    @property
    def remote(self) -> str:
        return f"{REMOTE_PKG_DIR}/{Path(self.path).name}"

    @property
    def extract_dir(self) -> str:
        return f"{REMOTE_PKG_DIR}/{Path(self.path).name}.d"


def read_package(path: str, expected_name: str) -> PackageFile:
    """What kind of package `path` is and which version it carries (InputError for anything else)."""
    path = check_package_file(path)
    name = Path(path).name
    if name.endswith(".run"):
        m = RUN_NAME.fullmatch(name)
        if not m:
            raise InputError(f"{path}: a vendor installer is named axigen-<version>.<arch>.deb.run or .rpm.run",
                             remedy="Pass the installer under its original name, or the .deb/.rpm inside it.")
        return PackageFile(path, "run", expected_name, m.group("version"), m.group("kind"))
    if name.endswith(".rpm"):
        return PackageFile(path, "rpm", rpm_field(path, "NAME"),
                           f"{rpm_field(path, 'VERSION')}-{rpm_field(path, 'RELEASE')}")
    return PackageFile(path, "deb", deb_field(path, "Package"), deb_field(path, "Version"))


def upload_package(runner, pkg: PackageFile, data: bytes, say: Callable[[str], None]) -> str:
    """Put the package's bytes at pkg.remote on one node (0600 in a 0700 directory), unless a file with the same
    sha256 is there already; checked by sha256 after the upload. The digest."""
    digest = hashlib.sha256(data).hexdigest()
    remote = pkg.remote
    runner.run(("mkdir", "-p", "-m", "0700", REMOTE_PKG_DIR), timeout=30, mutating=True).check()
    have = runner.run(("sha256sum", remote), timeout=60)
    if have.rc == 0 and have.stdout.split()[:1] == [digest]:
        say(f"{remote} already there")
        return digest
    runner.put(remote, data, 0o600)
    check = runner.run(("sha256sum", remote), timeout=60)
    if check.stdout.split()[:1] != [digest]:
        raise AxhaError(f"the uploaded package on {runner.node} does not match (sha256)", node=runner.node,
                        remedy="Retry; check free space in /var/cache on the node.")
    say(f"{remote} uploaded ({len(data)} bytes, sha256 {digest[:12]}...)")
    return digest
