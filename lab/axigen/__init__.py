"""The lab's stand-in Axigen: build_packages(outdir) -> {version: .deb}, build_installers(outdir) -> {version: .run}."""

from __future__ import annotations

from axha_lab.axigen.build import DEBIAN_REVISION, VERSIONS, BuildError, build_installers, build_packages, deb_version

__all__ = ["VERSIONS", "DEBIAN_REVISION", "BuildError", "build_packages", "build_installers", "deb_version"]
