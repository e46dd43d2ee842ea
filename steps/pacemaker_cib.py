"""Pure parser of the CIB's version attributes (admin_epoch, epoch, num_updates) in `cibadmin --query` output."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from axha.steps.pacemaker import PacemakerParseError, _parse_xml


@dataclass(frozen=True)
class CibVersion:
    """admin_epoch/epoch change with every configuration change; num_updates also with every status update."""

    admin_epoch: int
    epoch: int
    num_updates: int

    @property
    def config(self) -> tuple[int, int]:
        return (self.admin_epoch, self.epoch)


def parse_cib_version(text: str) -> CibVersion:
    """The version attributes of a `<cib ...>` root (from `cibadmin --query` output, whole or its first line)."""
    text = text.strip()
    head = text.split(">", 1)[0] + ">" if text.startswith("<cib") else text
    try:
        root = ET.fromstring(head if head.endswith("/>") else head[:-1] + "/>")
    except ET.ParseError:
        root = _parse_xml(text, "cibadmin")
    if root.tag != "cib":
        raise PacemakerParseError(f"expected a <cib> element, got <{root.tag}>")
    return CibVersion(int(root.get("admin_epoch", 0)), int(root.get("epoch", 0)), int(root.get("num_updates", 0)))
