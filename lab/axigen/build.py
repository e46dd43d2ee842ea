"""Builds the lab's stand-in Axigen .debs (10.5.0 and 10.5.1) with dpkg-deb, reproducibly and only when needed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

VERSIONS = ("10.5.0", "10.5.1")
SRC = Path(__file__).resolve().parent / "src"
# Every file of the built tree gets this mtime, and dpkg-deb uses it for the archive members:
# the same sources give byte-identical packages (2025-01-01T00:00:00Z).
SOURCE_DATE_EPOCH = 1735689600

# (source under src/, path in the package, mode, substitute @VERSION@)
PAYLOAD = (
    ("axigen.py", "opt/axigen/bin/axigen", 0o755, True),
    ("init.d-axigen", "etc/init.d/axigen", 0o755, False),
    ("axigen.cfg", "etc/opt/axigen/axigen.cfg", 0o644, False),
    ("templates/welcome.tmpl", "opt/axigen/share/templates/welcome.tmpl", 0o644, True),
    ("templates/webmail-skin.tmpl", "opt/axigen/share/templates/webmail-skin.tmpl", 0o644, True),
)
CONTROL = (
    ("debian/control", "control", 0o644, True),
    ("debian/conffiles", "conffiles", 0o644, False),
    ("debian/postinst", "postinst", 0o755, False),
    ("debian/prerm", "prerm", 0o755, False),
    ("debian/postrm", "postrm", 0o755, False),
)


class BuildError(RuntimeError):
    """dpkg-deb is missing or refused the package."""


def deb_name(version: str) -> str:
    return f"axigen_{version}_all.deb"


def sources_digest(version: str) -> str:
    """What a package is made of: this builder, every source file and the version."""
    digest = hashlib.sha256(version.encode())
    digest.update(Path(__file__).read_bytes())
    for source, target, mode, subst in PAYLOAD + CONTROL:
        digest.update(f"\0{source}\0{target}\0{mode}\0{subst}\0".encode())
        digest.update((SRC / source).read_bytes())
    return digest.hexdigest()


def _content(source: str, version: str, subst: bool) -> bytes:
    data = (SRC / source).read_bytes()
    return data.replace(b"@VERSION@", version.encode()) if subst else data


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


def build_one(version: str, outdir: Path) -> Path:
    """Build axigen_<version>_all.deb in outdir unless the one there was built from the same sources."""
    deb = outdir / deb_name(version)
    stamp = outdir / (deb.name + ".sources")
    digest = sources_digest(version)
    if deb.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
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
    stamp.write_text(digest + "\n")
    return deb


def build_packages(outdir) -> dict[str, str]:
    """{version: path} of axigen_10.5.0_all.deb and axigen_10.5.1_all.deb in outdir (built if needed)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return {version: str(build_one(version, out)) for version in VERSIONS}
