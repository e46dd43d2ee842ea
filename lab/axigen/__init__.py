"""The lab's stand-in Axigen package: build_packages(outdir) and how to read its banners."""

from __future__ import annotations

import re

from lab.axigen.build import VERSIONS, BuildError, build_packages

__all__ = ["VERSIONS", "BuildError", "build_packages", "banner_version"]

_BANNER_VERSION = re.compile(r"\bAxigen-(\d+\.\d+\.\d+)\b")


def banner_version(banner: str) -> str | None:
    """The version named in a stand-in SMTP/POP3/IMAP greeting ("220 node1 Axigen-10.5.0 ESMTP ready")."""
    match = _BANNER_VERSION.search(banner)
    return match.group(1) if match else None
