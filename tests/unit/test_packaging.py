"""Issue 13: the installed product adds one import name, `axha`, and carries no lab.

The wheel is built from this checkout (setuptools, no build isolation: no network) and installed into an empty
venv whose only other path is the test venv's site-packages as a plain directory (so the editable installs of this
checkout are not seen: what runs is what the wheel holds)."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = {"steps": "axha/steps", "checks": "axha/checks", "tui": "axha/tui", "assets": "axha/assets"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # a copy of the sources so that the build's egg-info/build dirs never land in the checkout
    subprocess.run(["cp", "-a", "--", *[str(REPO / n) for n in ("pyproject.toml", "README.md", "axha", *SOURCE_PACKAGES)],
                    str(build)], check=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-w", str(out), str(build)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [built] = out.glob("axha-*.whl")
    return built


def test_the_wheel_holds_one_top_level_name_and_every_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"axha", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert not any(n.startswith(("axha/lab", "axha_lab")) or "/rootfs/" in n for n in names)
    for folder, target in SOURCE_PACKAGES.items():
        for py in (REPO / folder).rglob("*"):
            if "__pycache__" in py.parts or py.is_dir():
                continue
            if py.suffix in (".py", ".tmpl"):
                rel = target + "/" + py.relative_to(REPO / folder).as_posix()
                assert rel in names, f"{py.relative_to(REPO)} is not in the wheel as {rel}"
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "axha = axha.tui.cli:main" in text and "axha-lab" not in text


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies (textual, paramiko, ...) from the test venv, as a plain path: its .pth files (the editable
    # finders of this checkout) are not processed from there
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([str(venv / "bin" / "axha"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_installed_command_runs_from_the_wheel_alone(installed, tmp_path):
    proc = _run(installed, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "preflight" in proc.stdout, proc.stderr
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import axha.steps.framework as m, axha.assets as a; print(m.__file__); print(a.__path__[0])"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(str(installed) in line for line in where.stdout.splitlines()), where.stdout
    site_packages = Path(where.stdout.splitlines()[0]).parents[2]
    added = {p.name for p in site_packages.iterdir()} - {"deps.pth", "__pycache__"}
    assert {n for n in added if not n.endswith(".dist-info")} == {"axha"}, added
    # none of the repository's folder names is importable from the wheel's environment
    for name in ("steps", "checks", "tui", "assets", "lab", "axha_lab"):
        probe = subprocess.run([str(installed / "bin" / "python"), "-c", f"import {name}"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0, f"`import {name}` works from the installed wheel"


def test_axha_lab_without_the_lab_says_so_with_exit_2(installed, tmp_path):
    proc = _run(installed, "lab", "status", cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "lab is not installed" in proc.stderr and "Traceback" not in proc.stderr


def test_the_bmc_helper_module_runs_isolated_from_the_wheel(installed, tmp_path):
    """The BMC helper starts as `python -I -m axha.steps.bmc`: from the installed package, never from a file in the
    current directory."""
    (tmp_path / "axha").mkdir()
    (tmp_path / "axha" / "__init__.py").write_text("raise SystemExit('planted axha imported')\n")
    proc = subprocess.run([str(installed / "bin" / "python"), "-I", "-c", "import axha.steps.bmc as m; print(m.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "planted" not in proc.stderr, proc.stderr
    assert str(installed) in proc.stdout

