"""Pure parsers of the quorum tools' outputs: corosync-quorumtool -s, corosync-qdevice-tool -s [-v],
corosync-qnetd-tool -l [-v] and -s [-v], and the tools' "daemon not running" answer.

Every format below is read from the upstream printf calls (corosync/corosync and corosync/corosync-qdevice,
tags and lines cited where each parser is); tests/unit/test_quorum_status.py renders the outputs from those
formats, version by version, and reads the man pages' examples.

corosync-quorumtool -s (tools/corosync-quorumtool.c; corosync v3.0.0 0ee7fd0c2f, v3.0.2 0390200dd4,
v3.0.3 1ba03a3816, v3.1.7 91348f8659, v3.1.10 ff20c2b123, HEAD 65235a810d):
- the same lines and flags from 3.0.0 to HEAD except:
  - `Ring ID:` is `%d/%llu` (representative node id / sequence, decimal) in 3.0.0-3.0.2 (v3.0.2 line 609) and
    CS_PRI_RING_ID `%x.%llx` (hexadecimal) from 3.0.3 (v3.0.3 line 609, include/corosync/corotypes.h line 61);
  - after v3.1.10 (HEAD line 613) a member with qdevice extra info gets ` [info]` after its name, before
    ` (local)`;
- exit status (show_status() and main()):
  - 3.0.0-3.0.1 (v3.0.0 lines 644-705, 889-892): 1 quorate, 0 NOT quorate, 255 (-1) on an error after
    connecting, and 1 when it cannot connect to corosync at all (init_all() fails, corosync not running): the
    exit status cannot tell "quorate" from "corosync down" there, only the output can;
  - 3.0.2 to HEAD (v3.0.2 lines 78, 646-707; v3.1.7 lines 647-708; man page EXIT STATUS, v3.0.2 on):
    0 quorate, 2 not quorate (EXIT_NOT_QUORATE), 1 any error (corosync not running: "Cannot initialize CMAP
    service" on stderr). Debian 12 ships 3.1.7.

corosync-qdevice-tool (qdevices/corosync-qdevice-tool.c, qdevice-ipc-cmd.c, qdevice-net-ipc-cmd.c;
corosync-qdevice v3.0.0 e1e9ae1086, v3.0.1 28d49141f8, v3.0.3 4331c7d565 (Debian 12), v3.0.4 d08ab0d25a,
HEAD f09dde68f3): the same from 3.0.1 to HEAD; 3.0.0 lacks the `KAP Tie-breaker:` line of -v (added in v3.0.1,
qdevice-net-ipc-cmd.c lines 80-116). corosync-qnetd-tool (corosync-qnetd-tool.c, qnetd-ipc-cmd.c): the same
from 3.0.1 to HEAD; 3.0.0 lacks the ` (KAP Tie-breaker)` after a cluster's algorithm. Both tools print with
tabs; their man pages show the same text with the tabs expanded to spaces. Exit status of both (v3.0.0 to
HEAD): 0, 1 usage, 2 internal error, 3 cannot connect to the daemon's socket (and "Unknown status line"),
4 the daemon answered an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

QUORUMTOOL_ARGV = ("corosync-quorumtool", "-s")
QDEVICE_TOOL_ARGV = ("corosync-qdevice-tool", "-s", "-v")
QNETD_STATUS_ARGV = ("corosync-qnetd-tool", "-s", "-v")
QNETD_LIST_ARGV = ("corosync-qnetd-tool", "-l", "-v")

MAX_TEXT = 1 << 20      # bytes of one output (a two-node cluster's -s is under 1 KiB)
MAX_LINE = 4096         # characters in one line

# VOTEQUORUM_QDEVICE_NODEID, the node id the quorum device's row is printed with
# (corosync include/corosync/votequorum.h, v3.0.0 line 61)
QDEVICE_NODEID = 0


class QuorumStatusError(ValueError):
    """An output these parsers do not read: too big, control characters, truncated, or not the tool's."""


# ---------------------------------------------------------------- common


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")   # C0/C1 controls but the tab
_UINT = re.compile(r"\d{1,10}")
_INT = re.compile(r"-?\d{1,10}")
_HEX_NODEID = re.compile(r"0x[0-9a-fA-F]{8}")              # the -H form, printf("0x%08x ")
_NODE_LIST = re.compile(r"(\d{1,10})(?: \((\d{1,10})\))?")  # qnetd: node id, data center id in parentheses


def _lines(text: object, tool: str) -> list[str]:
    """The lines of one output, bounded: QuorumStatusError on a non-text, an over-long output or line, or a
    control character (a trailing carriage return is dropped)."""
    if not isinstance(text, str):
        raise QuorumStatusError(f"{tool}: expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        raise QuorumStatusError(f"{tool}: output over {MAX_TEXT} bytes")
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            raise QuorumStatusError(f"{tool}: line {number} over {MAX_LINE} characters")
        if line.endswith("\r"):
            line = lines[number - 1] = line[:-1]
        if _CONTROL.search(line):
            raise QuorumStatusError(f"{tool}: control character in line {number}")
    return lines


def _uint(value: str, what: str, tool: str, limit: int = 0xFFFFFFFF) -> int:
    if not _UINT.fullmatch(value) or int(value) > limit:
        raise QuorumStatusError(f"{tool}: {what} is not a number: {value[:40]!r}")
    return int(value)


def _u64(value: str, what: str, tool: str) -> int:
    """A configuration version (UTILS_PRI_CONFIG_VERSION, `%" PRIu64`, qdevices/utils.h v3.0.3 line 49)."""
    if not re.fullmatch(r"\d{1,20}", value) or int(value) > 0xFFFFFFFFFFFFFFFF:
        raise QuorumStatusError(f"{tool}: {what} is not a number: {value[:40]!r}")
    return int(value)


def _int(value: str, what: str, tool: str) -> int:
    if not _INT.fullmatch(value):
        raise QuorumStatusError(f"{tool}: {what} is not a number: {value[:40]!r}")
    return int(value)


def _nodeid(value: str, tool: str) -> int:
    """A node id as corosync-quorumtool prints it: decimal (%u), or with -H 0x%08x."""
    if _HEX_NODEID.fullmatch(value):
        return int(value, 16)
    return _uint(value, "node id", tool)


def _key_value(line: str) -> tuple[str, str] | None:
    """`Key:<tabs or spaces>value` (leading indentation ignored), or None for a line without a colon."""
    key, colon, value = line.strip().partition(":")
    return (key.strip(), value.strip()) if colon else None


def _ms(value: str, what: str, tool: str) -> int:
    if not value.endswith("ms"):
        raise QuorumStatusError(f"{tool}: {what} is not in ms: {value[:40]!r}")
    return _uint(value[:-2], what, tool)


def _yes_no(value: str, what: str, tool: str) -> bool:
    if value not in ("Yes", "No"):
        raise QuorumStatusError(f"{tool}: {what} is neither Yes nor No: {value[:40]!r}")
    return value == "Yes"


def _host_port(value: str, what: str, tool: str) -> tuple[str, int]:
    """`%s:%u` (the address may be IPv6 without brackets: the port is after the last colon)."""
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        raise QuorumStatusError(f"{tool}: {what} has no port: {value[:60]!r}")
    return host, _uint(port, f"{what} port", tool, 65535)


def _uint_list(value: str, what: str, tool: str) -> tuple[int, ...]:
    """`1, 2, 3` (empty: no entry); a qnetd entry may carry its data center id as `1 (5)`, dropped here."""
    if not value:
        return ()
    out = []
    for item in value.split(", "):
        m = _NODE_LIST.fullmatch(item)
        if not m:
            raise QuorumStatusError(f"{tool}: bad {what} entry: {item[:40]!r}")
        out.append(_uint(m.group(1), what, tool))
    return tuple(out)


def _paren_suffix(value: str, suffix: str) -> tuple[str, bool]:
    """`value` without ` (suffix)` at its end, and whether it was there."""
    tail = f" ({suffix})"
    return (value[: -len(tail)], True) if value.endswith(tail) else (value, False)


def tie_breaker_word(printed: str | None) -> str | None:
    """The corosync.conf word (quorum.device.net.tie_breaker) of a printed tie-breaker: `Node with lowest node
    ID` -> lowest, `Node with highest node ID` -> highest, `Node with node ID N` -> N (qdevice-net-ipc-cmd.c
    v3.0.3 lines 49-78, qnetd-ipc-cmd.c lines 86-115); None when it is none of these."""
    if printed == "Node with lowest node ID":
        return "lowest"
    if printed == "Node with highest node ID":
        return "highest"
    m = re.fullmatch(r"Node with node ID (\d{1,10})", printed or "")
    return m.group(1) if m else None


# ---------------------------------------------------------------- corosync-quorumtool -s


@dataclass(frozen=True)
class QuorumMember:
    """One row of the membership table (display_nodes_data(), v3.1.7 lines 466-580).

    `votes` is None without votequorum (no Votes column). `qdevice` is the Qdevice cell as printed: `A,V,NMW`
    (device Alive or NA, casts a Vote or NV, Master Wins or NMW) or `NR` (no device registered on that node);
    None when the table has no Qdevice column. `extra_info`: what corosync after 3.1.10 prints in brackets
    after the name (`<unset>`, the text, or `N bytes: XX ...`)."""

    nodeid: int
    votes: int | None
    qdevice: str | None
    name: str
    local: bool
    extra_info: str | None = None

    def _qdevice_part(self, index: int) -> str | None:
        return self.qdevice.split(",")[index] if self.qdevice_registered else None

    @property
    def qdevice_registered(self) -> bool:
        return self.qdevice is not None and self.qdevice != "NR"

    @property
    def qdevice_alive(self) -> bool:
        return self._qdevice_part(0) == "A"

    @property
    def qdevice_cast_vote(self) -> bool:
        return self._qdevice_part(1) == "V"

    @property
    def qdevice_master_wins(self) -> bool:
        return self._qdevice_part(2) == "MW"


@dataclass(frozen=True)
class QuorumStatus:
    """`corosync-quorumtool -s`. The votequorum fields are None when the provider is not votequorum (the tool
    then stops after `Quorate:`, v3.1.7 lines 617-619, and `members` is empty). `flags` are the words of
    `Flags:` (2Node Quorate WaitForAll LastManStanding AutoTieBreaker AllowDownscale Qdevice, v3.1.7 lines
    629-637), `flag_words` the same in the printed order. `qdevice_votes` is the device's votes,
    `qdevice_counted` whether they count on this node (not counted: the row shows 0 and ` (votes N)`)."""

    quorate: bool
    expected_votes: int | None
    highest_expected: int | None
    total_votes: int | None
    quorum: int | None
    flags: frozenset[str]
    members: tuple[QuorumMember, ...]
    qdevice_name: str | None
    qdevice_votes: int | None
    provider: str = ""
    nodes: int = 0
    local_nodeid: int | None = None
    ring_id: str | None = None
    activity_blocked: bool = False
    qdevice_counted: bool | None = None
    flag_words: tuple[str, ...] = ()

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    @property
    def local_member(self) -> QuorumMember | None:
        return next((m for m in self.members if m.local), None)

    @property
    def two_node(self) -> bool:
        return "2Node" in self.flags

    @property
    def has_qdevice(self) -> bool:
        return self.qdevice_name is not None

    @property
    def device_votes_here(self) -> bool:
        """The quorum device casts its vote for the local node and the vote counts here."""
        local = self.local_member
        return bool(self.has_qdevice and local and local.qdevice_cast_vote and self.qdevice_counted)


_QT = "corosync-quorumtool"
_QT_KEYS = {"Date", "Quorum provider", "Nodes", "Node ID", "Ring ID", "Quorate", "Expected votes",
            "Highest expected", "Total votes", "Quorum", "Flags"}
_QT_VOTEQUORUM = ("Expected votes", "Highest expected", "Total votes", "Quorum", "Flags")
_QT_COLUMNS = ("Nodeid", "Votes", "Qdevice")
_QDEVICE_CELL = re.compile(r"NR|N?A,N?V,N?MW")
_COLUMN = re.compile(r" *(\S+)(?: |$)")
_QUORUM_VALUE = re.compile(r"(-?\d{1,10})\s*(Activity blocked)?")
_VOTES_SUFFIX = re.compile(r"(.*) \(votes (-?\d{1,10})\)")
_EXTRA_INFO = re.compile(r"(.*?) \[(.*)\]")


def _table_header(line: str) -> tuple[str, ...] | None:
    """The columns before `Name` of the table header (print_string_padded() x 2-3, then `Name`)."""
    words = line.split()
    if len(words) < 2 or words[0] != "Nodeid" or words[-1] != "Name":
        return None
    columns = tuple(words[:-1])
    if columns not in (("Nodeid",), ("Nodeid", "Votes"), _QT_COLUMNS):
        raise QuorumStatusError(f"{_QT}: unknown membership table header: {line.strip()[:80]!r}")
    return columns


def _split_row(line: str, count: int) -> tuple[list[str], str]:
    """`count` padded cells (print_string_padded(): right-aligned in 10 columns and one space, or `0x%08x `),
    then the rest of the line as printed."""
    cells, pos = [], 0
    for _ in range(count):
        m = _COLUMN.match(line, pos)
        if not m:
            raise QuorumStatusError(f"{_QT}: truncated membership row: {line.strip()[:80]!r}")
        cells.append(m.group(1))
        pos = m.end()
    return cells, line[pos:]


def parse_quorumtool_status(text: str) -> QuorumStatus:
    """Parse `corosync-quorumtool -s` (also with -H, -i, -a, -p, -o) of corosync 3.0.0 to HEAD.

    display_quorum_data() (v3.0.0 lines 579-642, v3.0.3 581-644, v3.1.7 582-645, HEAD 660-723) prints
    `Key:` and the value at column 18; display_nodes_data() (v3.1.7 lines 466-580, HEAD 533-658) the table:
    `Nodeid`, `Votes` (votequorum only), `Qdevice` (when a member has a device registered, or with -p) padded by
    print_string_padded() (v3.1.7 lines 422-433), then the name, ` (local)` after the local node's; with a
    device, a last row with node id 0, its votes (0 when it does not vote for this node), 11 spaces, its name
    and, when it does not vote here, ` (votes N)` (v3.1.7 lines 557-578).

    Refused (QuorumStatusError): not the tool's output, a missing field, a table with fewer or more rows than
    `Nodes:`, a device row missing while a member has one registered, a malformed cell. Lines it does not know
    outside the table are ignored; the first table ends the output (-m would print more)."""
    fields: dict[str, str] = {}
    columns: tuple[str, ...] | None = None
    members: list[QuorumMember] = []
    device: tuple[int, str] | None = None      # (votes column, rest of the row)
    lines = _lines(text, _QT)
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None or lines[start].strip() != "Quorum information":
        raise QuorumStatusError(f"{_QT}: no 'Quorum information' header")
    for line in lines[start + 1:]:
        if columns is None:
            columns = _table_header(line)
            if columns is not None:
                continue
            kv = _key_value(line)
            if kv and kv[0] in _QT_KEYS:
                if kv[0] in fields:
                    raise QuorumStatusError(f"{_QT}: {kv[0]!r} twice")
                fields[kv[0]] = kv[1]
            continue
        if not line.strip():
            break
        if device is not None:
            raise QuorumStatusError(f"{_QT}: a row after the quorum device's")
        cells, rest = _split_row(line, min(len(columns), 2))
        nodeid = _nodeid(cells[0], _QT)
        votes = _uint(cells[1], "votes", _QT) if len(cells) > 1 else None
        if nodeid == QDEVICE_NODEID:
            if "Qdevice" not in columns:
                raise QuorumStatusError(f"{_QT}: a node id 0 row without a Qdevice column")
            device = (votes, rest)     # no Qdevice cell in the device's row: 11 spaces, then its name
            continue
        cell = None
        if "Qdevice" in columns:
            (cell,), rest = _split_row(rest, 1)
            if not _QDEVICE_CELL.fullmatch(cell):
                raise QuorumStatusError(f"{_QT}: bad Qdevice cell {cell[:20]!r}")
        name, local = _paren_suffix(rest, "local")
        extra = None
        if cell not in (None, "NR"):
            m = _EXTRA_INFO.fullmatch(name)
            if m:
                name, extra = m.group(1), m.group(2)
        members.append(QuorumMember(nodeid, votes, cell, name, local, extra))

    for key in ("Quorum provider", "Nodes", "Node ID", "Quorate"):
        if key not in fields:
            raise QuorumStatusError(f"{_QT}: no {key!r} line")
    nodes = _uint(fields["Nodes"], "Nodes", _QT)
    quorate = _yes_no(fields["Quorate"], "Quorate", _QT)
    votequorum = any(k in fields for k in _QT_VOTEQUORUM)
    values: dict[str, int | None] = dict.fromkeys(_QT_VOTEQUORUM)
    blocked = False
    flag_words: tuple[str, ...] = ()
    if votequorum:
        missing = [k for k in _QT_VOTEQUORUM if k not in fields]
        if missing:
            raise QuorumStatusError(f"{_QT}: truncated votequorum information (no {missing[0]!r})")
        for key in ("Expected votes", "Highest expected", "Total votes"):
            values[key] = _int(fields[key], key, _QT)
        m = _QUORUM_VALUE.fullmatch(fields["Quorum"])
        if not m:
            raise QuorumStatusError(f"{_QT}: bad Quorum value {fields['Quorum'][:40]!r}")
        values["Quorum"], blocked = int(m.group(1)), m.group(2) is not None
        flag_words = tuple(fields["Flags"].split())
    if columns is None and (votequorum or fields["Quorum provider"] == "corosync_votequorum"):
        # with votequorum display_nodes_data() always follows (v3.1.7 lines 609-642)
        raise QuorumStatusError(f"{_QT}: truncated: no membership table")
    if columns is not None and len(members) != nodes:
        raise QuorumStatusError(f"{_QT}: {len(members)} membership row(s) for Nodes: {nodes}")
    if device is None and any(m.qdevice_registered for m in members):
        raise QuorumStatusError(f"{_QT}: truncated: no quorum device row")

    qdevice_name = qdevice_votes = qdevice_counted = None
    if device is not None:
        shown, rest = device
        m = _VOTES_SUFFIX.fullmatch(rest)
        qdevice_counted = m is None
        qdevice_name = (m.group(1) if m else rest).strip()
        qdevice_votes = int(m.group(2)) if m else shown
        if not qdevice_name:
            raise QuorumStatusError(f"{_QT}: quorum device row without a name")
    return QuorumStatus(
        quorate=quorate, expected_votes=values["Expected votes"], highest_expected=values["Highest expected"],
        total_votes=values["Total votes"], quorum=values["Quorum"], flags=frozenset(flag_words),
        members=tuple(members), qdevice_name=qdevice_name, qdevice_votes=qdevice_votes,
        provider=fields["Quorum provider"], nodes=nodes, local_nodeid=_nodeid(fields["Node ID"], _QT),
        ring_id=fields.get("Ring ID"), activity_blocked=blocked, qdevice_counted=qdevice_counted,
        flag_words=flag_words)


# ---------------------------------------------------------------- corosync-qdevice-tool -s [-v]


@dataclass(frozen=True)
class QdeviceStatus:
    """`corosync-qdevice-tool -s [-v]`: the generic section (qdevice-ipc-cmd.c) and the net model's
    (qdevice-net-ipc-cmd.c). The fields after `state` are printed with -v only (some only when connected,
    heuristics only when enabled) and are None otherwise. `kap_tie_breaker` is None before corosync-qdevice
    3.0.1. Times are local ISO times as printed (`2016-06-24T17:05:20`); `last_poll` is None for `Never`."""

    model: str
    node_id: int
    configured_nodes: tuple[int, ...]
    membership: tuple[int, ...]
    cluster_name: str | None = None
    host: str | None = None
    port: int | None = None
    algorithm: str | None = None
    tie_breaker: str | None = None
    state: str | None = None
    config_version: int | None = None
    hb_interval_ms: int | None = None
    sync_hb_interval_ms: int | None = None
    heuristics: str | None = None
    ring_id: str | None = None
    quorate: bool | None = None
    quorum_nodes: tuple[tuple[int, str], ...] = ()
    expected_votes: int | None = None
    last_poll: str | None = None
    last_poll_cast_vote: bool | None = None
    force_ip_version: int | None = None
    connect_timeout_ms: int | None = None
    net_hb_interval_ms: int | None = None
    vq_vote_timer_interval_ms: int | None = None
    tls: str | None = None
    kap_tie_breaker: str | None = None
    poll_timer_running: bool | None = None
    poll_timer_cast_vote: bool | None = None
    heuristics_result: str | None = None
    heuristics_regular: str | None = None
    heuristics_membership: str | None = None
    heuristics_connect: str | None = None
    tls_active: bool | None = None
    client_certificate_sent: bool | None = None
    connected_since: str | None = None
    echo_reply_received: str | None = None

    @property
    def connected(self) -> bool:
        """Connected to its qnetd (State: Connected, qdevice-net-ipc-cmd.c v3.0.3 lines 187-209)."""
        return self.state == "Connected"


_QD = "corosync-qdevice-tool"
_QD_CONFIG_NODE = re.compile(r"\s+\d{1,10}\s+Node ID = (\d{1,10})(?:, Data center ID = \d{1,10})?")
_QD_QUORUM_NODE = re.compile(r"\s+\d{1,10}\s+Node ID = (\d{1,10}), State = (\S+)")
_QD_HEURISTICS = re.compile(r"(\S+) \(regular: (\S+), membership: (\S+), connect: (\S+)\)")
_QD_LAST_POLL = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)( \(cast vote\))?")


def parse_qdevice_status(text: str) -> QdeviceStatus:
    """Parse `corosync-qdevice-tool -s` or `-s -v` of corosync-qdevice 3.0.0 to HEAD.

    qdevice_ipc_cmd_status() (qdevice-ipc-cmd.c v3.0.3 lines 259-279, the same in v3.0.0 and HEAD): `Qdevice
    information`, Model, Node ID, (-v) HB and Sync HB interval, Configuration version (when set), `Configured
    node list:` and one `    N\\tNode ID = id[, Data center ID = dc]` line per node (lines 83-116), (-v)
    Heuristics, (-v) Ring ID, `Membership node list:\\t1, 2`, (-v) Quorate, `Quorum node list:` and `    N\\tNode
    ID = id, State = member|dead|leaving` lines, Expected votes, Last poll call; a blank line; then the model's
    section, for Net qdevice_net_ipc_cmd_status() (qdevice-net-ipc-cmd.c v3.0.3 lines 296-313; v3.0.0 lines
    257-273 without the KAP line): `Qdevice-net information`, Cluster name, `QNetd host:\\thost:port`, (-v)
    Force IP version (when set), Connect timeout, HB interval, VQ vote timer interval, TLS; Algorithm,
    Tie-breaker, (-v, 3.0.1+) KAP Tie-breaker, (-v) Poll timer running, State, Heuristics result (when
    heuristics are enabled; -v adds the three results in parentheses), (-v, connected) TLS active, Connected
    since, Echo reply received. Every value follows `Key:` and tabs (the man page: spaces).

    Refused (QuorumStatusError): no `Qdevice information` header, no Model / Node ID / node lists, for model Net
    no `Qdevice-net information` section or no Cluster name / QNetd host / Algorithm / Tie-breaker / State;
    a value that does not read. Unknown lines are ignored."""
    lines = _lines(text, _QD)
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None or lines[start].strip() != "Qdevice information":
        raise QuorumStatusError(f"{_QD}: no 'Qdevice information' header")
    generic: dict[str, str] = {}
    net: dict[str, str] = {}
    configured: list[int] = []
    quorum_nodes: list[tuple[int, str]] = []
    section, node_list = generic, None
    for line in lines[start + 1:]:
        stripped = line.strip()
        if stripped == "Qdevice-net information":
            if section is net:
                raise QuorumStatusError(f"{_QD}: two 'Qdevice-net information' sections")
            section, node_list = net, None
            continue
        if node_list is not None and line[:1].isspace() and stripped:
            m = (_QD_CONFIG_NODE if node_list is configured else _QD_QUORUM_NODE).fullmatch(line)
            if not m:
                raise QuorumStatusError(f"{_QD}: bad node list line {stripped[:80]!r}")
            node_list.append(int(m.group(1)) if node_list is configured else (int(m.group(1)), m.group(2)))
            continue
        node_list = None
        kv = _key_value(line)
        if not kv:
            continue
        key, value = kv
        if key in section:
            raise QuorumStatusError(f"{_QD}: {key!r} twice")
        section[key] = value
        if section is generic and key == "Configured node list":
            node_list = configured
        elif section is generic and key == "Quorum node list":
            node_list = quorum_nodes

    for key in ("Model", "Node ID", "Configured node list", "Membership node list"):
        if key not in generic:
            raise QuorumStatusError(f"{_QD}: no {key!r} line")
    model = generic["Model"]
    values: dict[str, object] = {}
    if "Quorate" in generic:
        values["quorate"] = _yes_no(generic["Quorate"], "Quorate", _QD)
    for key, name in (("HB interval", "hb_interval_ms"), ("Sync HB interval", "sync_hb_interval_ms")):
        if key in generic:
            values[name] = _ms(generic[key], key, _QD)
    if "Configuration version" in generic:
        values["config_version"] = _u64(generic["Configuration version"], "configuration version", _QD)
    if "Expected votes" in generic:
        values["expected_votes"] = _uint(generic["Expected votes"], "expected votes", _QD)
    if "Last poll call" in generic:
        poll = generic["Last poll call"]
        if poll == "Never":
            values["last_poll_cast_vote"] = False
        else:
            m = _QD_LAST_POLL.fullmatch(poll)
            if not m:
                raise QuorumStatusError(f"{_QD}: bad Last poll call {poll[:40]!r}")
            values["last_poll"], values["last_poll_cast_vote"] = m.group(1), m.group(2) is not None
    values["heuristics"] = generic.get("Heuristics")
    values["ring_id"] = generic.get("Ring ID")
    if model == "Net" or net:
        values.update(_qdevice_net(net))
    return QdeviceStatus(model=model, node_id=_uint(generic["Node ID"], "node id", _QD),
                         configured_nodes=tuple(configured),
                         membership=_uint_list(generic["Membership node list"], "membership", _QD),
                         quorum_nodes=tuple(quorum_nodes), **values)


def _qdevice_net(net: dict[str, str]) -> dict[str, object]:
    """The Qdevice-net section's values (qdevice-net-ipc-cmd.c, see parse_qdevice_status)."""
    if not net:
        raise QuorumStatusError(f"{_QD}: truncated: no 'Qdevice-net information' section")
    for key in ("Cluster name", "QNetd host", "Algorithm", "Tie-breaker", "State"):
        if key not in net:
            raise QuorumStatusError(f"{_QD}: no {key!r} line in the net section")
    host, port = _host_port(net["QNetd host"], "QNetd host", _QD)
    out: dict[str, object] = {"cluster_name": net["Cluster name"], "host": host, "port": port,
                              "algorithm": net["Algorithm"], "tie_breaker": net["Tie-breaker"],
                              "state": net["State"], "tls": net.get("TLS"),
                              "kap_tie_breaker": net.get("KAP Tie-breaker")}
    if "Force IP version" in net:
        out["force_ip_version"] = _uint(net["Force IP version"], "force IP version", _QD)
    for key, name in (("Connect timeout", "connect_timeout_ms"), ("HB interval", "net_hb_interval_ms"),
                      ("VQ vote timer interval", "vq_vote_timer_interval_ms")):
        if key in net:
            out[name] = _ms(net[key], key, _QD)
    if "Poll timer running" in net:
        running, cast = _paren_suffix(net["Poll timer running"], "cast vote")
        out["poll_timer_running"], out["poll_timer_cast_vote"] = _yes_no(running, "Poll timer running", _QD), cast
    if "Heuristics result" in net:
        result = net["Heuristics result"]
        m = _QD_HEURISTICS.fullmatch(result)
        if m:
            (out["heuristics_result"], out["heuristics_regular"], out["heuristics_membership"],
             out["heuristics_connect"]) = m.groups()
        elif " " in result or not result:
            raise QuorumStatusError(f"{_QD}: bad Heuristics result {result[:60]!r}")
        else:
            out["heuristics_result"] = result
    if "TLS active" in net:
        active, sent = _paren_suffix(net["TLS active"], "client certificate sent")
        out["tls_active"], out["client_certificate_sent"] = _yes_no(active, "TLS active", _QD), sent
    out["connected_since"] = net.get("Connected since")
    out["echo_reply_received"] = net.get("Echo reply received")
    return out


# ---------------------------------------------------------------- corosync-qnetd-tool -l [-v], -s [-v]


@dataclass(frozen=True)
class QnetdNode:
    """One client (a cluster node's qdevice) in `corosync-qnetd-tool -l`. `vote` is the last vote qnetd sent
    it as printed by tlv_vote_to_str() (tlv.c v3.0.3 lines 1057-1071): ACK, NACK, `Ask later`, `Wait for
    reply`, `No change`; None before any vote. `last_ack_nack_vote` is the last ACK or NACK sent (the value in
    parentheses). The fields after `last_ack_nack_vote` are -v only (or printed only when set)."""

    nodeid: int
    address: str
    port: int
    vote: str | None
    last_ack_nack_vote: str | None = None
    hb_interval_ms: int | None = None
    config_version: int | None = None
    configured_nodes: tuple[int, ...] = ()
    ring_id: str | None = None
    membership: tuple[int, ...] = ()
    heuristics: str | None = None
    heuristics_membership: str | None = None
    heuristics_regular: str | None = None
    tls_active: bool | None = None
    client_certificate_verified: bool | None = None

    @property
    def effective_vote(self) -> str | None:
        """ACK or NACK as the node's qdevice holds it: the vote, or for `No change` the last ACK/NACK."""
        if self.vote in ("ACK", "NACK"):
            return self.vote
        return self.last_ack_nack_vote if self.vote == "No change" else None

    @property
    def has_vote(self) -> bool:
        """qnetd gives this node its vote: the last vote is ACK, or `No change` after an ACK (the man page's
        example, `No change (ACK)`). Ask later / Wait for reply / NACK: no vote (qdevice-net-cast-vote-timer.c
        v3.0.3 lines 98-135 stop casting the vote on those)."""
        return self.effective_vote == "ACK"


@dataclass(frozen=True)
class QnetdCluster:
    """One cluster in `corosync-qnetd-tool -l`: its algorithm (`Fifty-Fifty split`, `2 Node LMS`, `LMS`,
    `Test`), whether all its clients run ffsplit with the keep-active-partition tie-breaker (3.0.1+: ` (KAP
    Tie-breaker)` after the algorithm), the tie-breaker as printed, its nodes in qnetd's order."""

    name: str
    algorithm: str | None
    tie_breaker: str | None
    nodes: tuple[QnetdNode, ...]
    kap_tie_breaker: bool = False

    def node(self, nodeid: int) -> QnetdNode | None:
        return next((n for n in self.nodes if n.nodeid == nodeid), None)


@dataclass(frozen=True)
class QnetdStatus:
    """`corosync-qnetd-tool -s [-v]` (qnetd-ipc-cmd.c v3.0.3 lines 40-84, the same v3.0.0 to HEAD): the listening
    address (`*` for any), TLS, clients and clusters connected; -v adds the limits. No version is printed."""

    host: str
    port: int
    tls: str
    client_certificate_required: bool
    connected_clients: int
    connected_clusters: int
    max_clients: int | None = None
    max_send_size: int | None = None
    max_receive_size: int | None = None


_QN = "corosync-qnetd-tool"
_QN_CLUSTER = re.compile(r'Cluster "(.*)":')
_QN_NODE = re.compile(r"\s+Node ID (\d{1,10}):")
_QN_HEURISTICS = re.compile(r"(\S+) \(membership: (\S+), regular: (\S+)\)")
_QN_VOTE = re.compile(r"(.+?)(?: \((ACK|NACK|Ask later|Wait for reply|No change|Unknown vote value)\))?")
_QN_SIZES = re.compile(r"(\d{1,20})/(\d{1,20}) bytes")
_QN_NODE_KEYS = {"Client address", "HB interval", "Configuration version", "Configured node list", "Ring ID",
                 "Membership node list", "Heuristics", "TLS active", "Vote"}


def parse_qnetd_list(text: str) -> tuple[QnetdCluster, ...]:
    """Parse `corosync-qnetd-tool -l [-v] [-c name]` of corosync-qdevice 3.0.0 to HEAD.

    qnetd_ipc_cmd_list() (qnetd-ipc-cmd.c v3.0.3 lines 281-334, v3.0.0 261-307, HEAD 281-331): per cluster
    `Cluster "name":`, before its first client `    Algorithm:\\t\\t%s%s` (3.0.0: no KAP suffix) and `    Tie-breaker:
    \\t...`; per client (qnetd_ipc_cmd_list_add_client_info(), v3.0.3 lines 150-259) `    Node ID N:`, `Client
    address:\\taddr:port`, (-v) HB interval, Configuration version (when set), Configured node list (when not
    empty), (-v) Ring ID, Membership node list (when not empty), Heuristics (when defined or -v), (-v) TLS
    active, Vote (when one was sent) with the last ACK/NACK in parentheses; node lists are `1, 2`, a data
    center id as `1 (5)`.

    No client connected: empty output, (). Refused (QuorumStatusError): a non-empty output without a cluster,
    a node before its cluster's algorithm, a node without its client address, a value that does not read.
    Unknown lines are ignored."""
    lines = _lines(text, _QN)
    clusters: list[dict] = []
    node: dict | None = None
    for line in lines:
        m = _QN_CLUSTER.fullmatch(line)
        if m:
            clusters.append({"name": m.group(1), "nodes": []})
            node = None
            continue
        if not clusters:
            if line.strip():
                raise QuorumStatusError(f"{_QN}: {line.strip()[:60]!r} before any cluster")
            continue
        cluster = clusters[-1]
        m = _QN_NODE.fullmatch(line)
        if m:
            if "Algorithm" not in cluster or "Tie-breaker" not in cluster:
                raise QuorumStatusError(f"{_QN}: node {m.group(1)} before its cluster's algorithm")
            node = {"nodeid": _uint(m.group(1), "node id", _QN)}
            cluster["nodes"].append(node)
            continue
        kv = _key_value(line)
        if not kv:
            continue
        key, value = kv
        target = cluster if node is None and key in ("Algorithm", "Tie-breaker") else node
        if target is None or (target is node and key not in _QN_NODE_KEYS):
            continue
        if key in target:
            raise QuorumStatusError(f"{_QN}: {key!r} twice")
        target[key] = value
    return tuple(_qnetd_cluster(c) for c in clusters)


def _qnetd_cluster(raw: dict) -> QnetdCluster:
    algorithm, kap = _paren_suffix(raw["Algorithm"], "KAP Tie-breaker") if "Algorithm" in raw else (None, False)
    return QnetdCluster(raw["name"], algorithm, raw.get("Tie-breaker"),
                        tuple(_qnetd_node(n) for n in raw["nodes"]), kap)


def _qnetd_node(raw: dict) -> QnetdNode:
    if "Client address" not in raw:
        raise QuorumStatusError(f"{_QN}: truncated: node {raw['nodeid']} without its client address")
    address, port = _host_port(raw["Client address"], "client address", _QN)
    values: dict[str, object] = {}
    if "Vote" in raw:
        m = _QN_VOTE.fullmatch(raw["Vote"])
        if not m:
            raise QuorumStatusError(f"{_QN}: node {raw['nodeid']} with an empty vote")
        values["vote"], values["last_ack_nack_vote"] = m.group(1), m.group(2)
    if "HB interval" in raw:
        values["hb_interval_ms"] = _ms(raw["HB interval"], "HB interval", _QN)
    if "Configuration version" in raw:
        values["config_version"] = _u64(raw["Configuration version"], "configuration version", _QN)
    for key, name in (("Configured node list", "configured_nodes"), ("Membership node list", "membership")):
        if key in raw:
            values[name] = _uint_list(raw[key], key, _QN)
    if "Heuristics" in raw:
        m = _QN_HEURISTICS.fullmatch(raw["Heuristics"])
        if m:
            values["heuristics"], values["heuristics_membership"], values["heuristics_regular"] = m.groups()
        else:
            values["heuristics"] = raw["Heuristics"]
    if "TLS active" in raw:
        active, verified = _paren_suffix(raw["TLS active"], "client certificate verified")
        values["tls_active"] = _yes_no(active, "TLS active", _QN)
        values["client_certificate_verified"] = verified
    values["ring_id"] = raw.get("Ring ID")
    values.setdefault("vote", None)
    return QnetdNode(nodeid=raw["nodeid"], address=address, port=port, **values)


def parse_qnetd_status(text: str) -> QnetdStatus:
    """Parse `corosync-qnetd-tool -s [-v]` (qnetd_ipc_cmd_status(), qnetd-ipc-cmd.c v3.0.3 lines 40-84):
    `QNetd address:\\t\\t\\thost:port`, `TLS:\\t...` with ` (client certificate required)`, `Connected
    clients:`, `Connected clusters:`; -v: `Maximum allowed clients:` (when limited), `Maximum send/receive
    size:\\tS/R bytes`. Refused: any of the first four missing or not reading."""
    fields: dict[str, str] = {}
    for line in _lines(text, _QN):
        kv = _key_value(line)
        if kv:
            if kv[0] in fields:
                raise QuorumStatusError(f"{_QN}: {kv[0]!r} twice")
            fields[kv[0]] = kv[1]
    for key in ("QNetd address", "TLS", "Connected clients", "Connected clusters"):
        if key not in fields:
            raise QuorumStatusError(f"{_QN}: no {key!r} line")
    host, port = _host_port(fields["QNetd address"], "QNetd address", _QN)
    tls, required = _paren_suffix(fields["TLS"], "client certificate required")
    sizes: tuple[int | None, int | None] = (None, None)
    if "Maximum send/receive size" in fields:
        m = _QN_SIZES.fullmatch(fields["Maximum send/receive size"])
        if not m:
            raise QuorumStatusError(f"{_QN}: bad send/receive size {fields['Maximum send/receive size'][:40]!r}")
        sizes = (int(m.group(1)), int(m.group(2)))
    max_clients = fields.get("Maximum allowed clients")
    return QnetdStatus(host=host, port=port, tls=tls, client_certificate_required=required,
                       connected_clients=_uint(fields["Connected clients"], "connected clients", _QN),
                       connected_clusters=_uint(fields["Connected clusters"], "connected clusters", _QN),
                       max_clients=None if max_clients is None else _uint(max_clients, "max clients", _QN),
                       max_send_size=sizes[0], max_receive_size=sizes[1])


# ---------------------------------------------------------------- daemon not running


# err(3, ...) when unix_socket_client_create() fails (corosync-qdevice-tool.c v3.0.0 to HEAD lines 237-241,
# corosync-qnetd-tool.c lines 265-269): glibc prints `<program>: <message>: <strerror(errno)>`, in English
# (neither tool calls setlocale()). No such file: the socket is not there; Connection refused: nobody listens.
_SOCKET_CONNECT_EXIT = 3
_NOT_RUNNING = re.compile(
    r"(?m)^(?:[^:\n]*: )?Can't connect to (?:QDevice socket \(is QDevice running\?\)|"
    r"qnetd socket \(is QNetd running\?\)): (?:No such file or directory|Connection refused)$")


def tool_not_running(stderr: str, rc: int) -> bool:
    """corosync-qdevice-tool or corosync-qnetd-tool answered that its daemon is not running: exit 3 and `Can't
    connect to QDevice socket (is QDevice running?)` / `Can't connect to qnetd socket (is QNetd running?)` with
    ENOENT or ECONNREFUSED. False for anything else, including `Permission denied` (not root: the daemon may
    well run) and exit 3's other message, `Unknown status line returned by IPC server`."""
    if rc != _SOCKET_CONNECT_EXIT or not isinstance(stderr, str) or len(stderr) > MAX_TEXT:
        return False
    return _NOT_RUNNING.search(stderr.replace("\r", "")) is not None
