"""What every reading of Pacemaker's XML shares: the commands axha reads it with, the error, the XML entry
that tolerates warnings printed before it, and the role names.

The readings (all pure): steps.pacemaker_status (`crm_mon --output-as=xml`, with steps.pacemaker_opkey for its
operation keys), steps.pacemaker_constraints (`cibadmin --query --scope constraints`) and steps.pacemaker_cib
(the version attributes of the CIB)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from axha.steps.errors import AxhaError

CRM_MON_ARGV = ("crm_mon", "--output-as=xml", "--inactive")
CONSTRAINTS_ARGV = ("cibadmin", "--query", "--scope", "constraints")

# Pacemaker 2.1 renamed the promotable roles; older crm_mon (and old CIBs) say Master/Slave.
ROLE_ALIASES = {"Master": "Promoted", "Slave": "Unpromoted"}


class PacemakerParseError(AxhaError):
    """crm_mon or cibadmin printed something that is not the XML we expect."""


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on", "y")


def normalize_role(role: str | None) -> str:
    """Promoted/Unpromoted/Started/Stopped...: the old names Master/Slave mapped to the new ones."""
    role = role or ""
    return ROLE_ALIASES.get(role, role)


def _parse_xml(text: str, what: str) -> ET.Element:
    start = text.find("<")
    try:
        # tolerate warnings a tool printed before its XML (stderr merged into stdout)
        return ET.fromstring(text[start:].strip() if start > 0 else text.strip())
    except ET.ParseError as exc:
        first = text.strip().splitlines()[0][:120] if text.strip() else "(empty output)"
        raise PacemakerParseError(f"{what} output is not XML ({exc}); it began: {first}",
                                  remedy="Is Pacemaker running on this node? Try `crm_mon -1` there.") from None
