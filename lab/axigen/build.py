"""Builds the lab's stand-in Axigen packages (10.5.0 and 10.5.1): the .deb with dpkg-deb and Axigen's installer
form around it (axigen-<version>.x86_64.deb.run), reproducibly and only when their sources changed."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VERSIONS = ("10.5.0", "10.5.1")
DEBIAN_REVISION = "1"  # the package version (10.5.0-1) differs from what `axigen --version` prints (10.5.0)
SRC = Path(__file__).resolve().parent / "src"
# Every file of the built tree gets this mtime, and dpkg-deb uses it for the archive members:
# the same sources give byte-identical packages (2025-01-01T00:00:00Z).
SOURCE_DATE_EPOCH = 1735689600

# (source under src/, path in the package, mode, substitute @VERSION@/@DEBVERSION@)
PAYLOAD = (
    ("axigen.py", "opt/axigen/bin/axigen", 0o755, True),
    ("init.d-axigen", "etc/init.d/axigen", 0o755, False),
)
CONTROL = (
    ("debian/control", "control", 0o644, True),
    ("debian/conffiles", "conffiles", 0o644, False),
    ("debian/postinst", "postinst", 0o755, False),
    ("debian/prerm", "prerm", 0o755, False),
    ("debian/postrm", "postrm", 0o755, False),
)
INSTALLER = ("installer.sh", "LICENSE")


class BuildError(RuntimeError):
    """dpkg-deb is missing or refused the package."""


def deb_version(version: str) -> str:
    return f"{version}-{DEBIAN_REVISION}"


def deb_name(version: str) -> str:
    return f"axigen_{deb_version(version)}_amd64.deb"


def run_name(version: str) -> str:
    return f"axigen-{version}.x86_64.deb.run"


def sources_digest(version: str) -> str:
    """What a package is made of: this builder, every source file and the version."""
    digest = hashlib.sha256(version.encode())
    digest.update(Path(__file__).read_bytes())
    for source, target, mode, subst in PAYLOAD + CONTROL:
        digest.update(f"\0{source}\0{target}\0{mode}\0{subst}\0".encode())
        digest.update((SRC / source).read_bytes())
    for source in INSTALLER:
        digest.update(f"\0{source}\0".encode())
        digest.update((SRC / source).read_bytes())
    return digest.hexdigest()


def _content(source: str, version: str, subst: bool) -> bytes:
    data = (SRC / source).read_bytes()
    if subst:
        data = data.replace(b"@DEBVERSION@", deb_version(version).encode()).replace(b"@VERSION@", version.encode())
    return data


def stage(version: str, root: Path) -> None:
    """Lay out the package tree (payload + DEBIAN/) under root."""
    md5sums = []
    for source, target, mode, subst in PAYLOAD:
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _content(source, version, subst)
        path.write_bytes(data)
        path.chmod(mode)
        md5sums.append(f"{hashlib.md5(data).hexdigest()}  {target}\n")
    control = root / "DEBIAN"
    control.mkdir()
    for source, target, mode, subst in CONTROL:
        (control / target).write_bytes(_content(source, version, subst))
        (control / target).chmod(mode)
    (control / "md5sums").write_text("".join(sorted(md5sums)))
    (control / "md5sums").chmod(0o644)
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)


def _up_to_date(path: Path, digest: str) -> bool:
    stamp = path.with_name(path.name + ".sources")
    return path.is_file() and stamp.is_file() and stamp.read_text().strip() == digest


def _stamp(path: Path, digest: str) -> None:
    path.with_name(path.name + ".sources").write_text(digest + "\n")


def build_one(version: str, outdir: Path) -> Path:
    """Build the .deb of version in outdir unless the one there was built from the same sources."""
    deb = outdir / deb_name(version)
    digest = sources_digest(version)
    if _up_to_date(deb, digest):
        return deb
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb not found: install the dpkg package (Debian/Ubuntu)")
    with tempfile.TemporaryDirectory(prefix="axigen-build-", dir=outdir) as tmp:
        root = Path(tmp) / "root"
        stage(version, root)
        partial = Path(tmp) / deb.name
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH), LC_ALL="C")
        result = subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", str(root), str(partial)],
            capture_output=True, text=True, env=env, timeout=120)
        if result.returncode != 0:
            raise BuildError(f"dpkg-deb failed for axigen {version}: {result.stderr.strip()}")
        os.replace(partial, deb)
    _stamp(deb, digest)
    return deb


def _payload(deb: Path) -> bytes:
    """gzip'd tar of LICENSE and the .deb, with fixed owners and times (reproducible)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("LICENSE", (SRC / "LICENSE").read_bytes()), (deb.name, deb.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, SOURCE_DATE_EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=SOURCE_DATE_EPOCH)


def build_installer(version: str, outdir: Path) -> Path:
    """axigen-<version>.x86_64.deb.run in outdir: a makeself-style shell header followed by the payload."""
    deb = build_one(version, outdir)
    run = outdir / run_name(version)
    digest = sources_digest(version)
    if _up_to_date(run, digest):
        return run
    payload = _payload(deb)
    header = (SRC / "installer.sh").read_text()
    skip = header.count("\n") + 1  # the payload starts on the line after the header
    header = (header.replace("@SKIP@", str(skip)).replace("@MD5@", hashlib.md5(payload).hexdigest())
              .replace("@DEB@", deb.name).replace("@LABEL@", f"Axigen Mail Server {version}"))
    assert header.count("\n") + 1 == skip and header.endswith("\n")
    partial = outdir / (run.name + ".partial")
    partial.write_bytes(header.encode() + payload)
    partial.chmod(0o755)
    os.utime(partial, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
    os.replace(partial, run)
    _stamp(run, digest)
    return run


def build_packages(outdir) -> dict[str, str]:
    """{version: path} of the 10.5.0 and 10.5.1 .debs in outdir (built if needed)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return {version: str(build_one(version, out)) for version in VERSIONS}


def build_installers(outdir) -> dict[str, str]:
    """{version: path} of axigen-<version>.x86_64.deb.run in outdir (each .deb built too if needed)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return {version: str(build_installer(version, out)) for version in VERSIONS}
