"""What axha knows of the real Axigen (shared/AXIGEN.md): where it lives and what it serves; its configuration
file is read in steps.axigen_cfg, its CLI and its versions in steps.axigen_versions (pure).

Only interfaces the real Axigen has are used (here and in those two):
- the working directory /var/opt/axigen (on the replicated volume) holds the configuration `run/axigen.cfg` in
  Axigen's block syntax (`Server { smtpIncoming = { listeners = ( { address = 127.0.0.1:25 ... } ) } ... }`);
- the CLI service (telnet-style, 127.0.0.1:7000 by default) answers `GET VERSION` at its `<login>` prompt
  without credentials: `10.6.30|Linux|x86_64` is the *running* version;
- `/opt/axigen/bin/axigen --version` and the package database (dpkg or rpm) say what is *installed*.
No banner is ever read for a version: Axigen's SMTP greeting has none and admins change greetings.
"""
from __future__ import annotations

WORKDIR = "/var/opt/axigen"
BINARY = "/opt/axigen/bin/axigen"
CONFIG_REL = "run/axigen.cfg"
CLI_HOST, CLI_PORT = "127.0.0.1", 7000
# The services that carry mail for users: bound to the VIP. The CLI and WebAdmin stay where they are (loopback by
# default): they are for the admin on the node, not for clients, and an admin CLI on the VIP would be reachable by
# everyone who can reach the mail service.
MAIL_SERVICES = ("smtpIncoming", "imap", "pop3", "webmail")
KEPT_SERVICES = ("cli", "webadmin")
# pre-10.4 working directories also held these (AXIGEN.md "The working directory"); what an upgrade must refresh
# in them is unknown, so a rolling upgrade refuses to guess
PRE_10_4_DIRS = ("webmail", "webadmin", "templates", "kas", "kav")


def config_path(workdir: str = WORKDIR) -> str:
    return f"{workdir.rstrip('/')}/{CONFIG_REL}"
