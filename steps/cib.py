"""CIB changes the way pcs and ha_cluster make them: edit a copy, crm_verify it, crm_diff it, push only a diff.

Everything runs on a node through its runner (the Pacemaker tools live there):
  1. `cibadmin --query` -> a scratch copy (orig.xml and new.xml in a `mktemp -d` directory under /tmp)
  2. edits on new.xml only, with `CIB_file=new.xml` and the real tools (cibadmin --create/--replace/--modify,
     crm_attribute), so Pacemaker itself validates every edit
  3. `crm_verify -V --xml-file new.xml` (the whole configuration, not just our part)
  4. `crm_diff --original orig.xml --new new.xml --no-version`: an empty diff means nothing to do
  5. the push (done by the caller as a planned action): `cibadmin --patch --xml-pipe` with the diff on stdin.
The scratch files are the tool's own working copies, not a change to the system: those commands are recorded
with mutating=false; only the push is a change.
"""
from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from axha.steps.errors import AxhaError, CommandFailed
from axha.steps.framework import Action
from axha.steps.render import RenderError, xml_attr

TIMEOUT = 60.0
# crm_verify errors expected before the fencing step has added the devices (stonith-enabled stays true)
NO_STONITH_YET = ("no STONITH resources have been defined", "disable STONITH with the stonith-enabled option",
                  "Clusters with shared data need STONITH")
PUSH_ARGV = ("cibadmin", "--patch", "--xml-pipe")
NOT_RUNNING = ("Could not connect", "Transport endpoint is not connected", "Connection refused",
               "not connected", "No such file or directory")


OBJECT_TAGS = {"resources": ("primitive", "clone", "group", "bundle"),
               "constraints": ("rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket")}
# an XML ID (NCName) as Pacemaker's schema wants for id attributes, kept to ASCII
ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class CibObject:
    """A whole object we own (primitive, clone, group, constraint): created, or replaced by id when present.
    Checked when made (the second wall behind validation): `xml` is one well-formed element of a tag that belongs
    in `scope`, with `id` as its id, so no value pasted into it can have added or closed an element."""

    scope: str   # resources | constraints
    id: str
    xml: str

    def __post_init__(self):
        if not ID_RE.fullmatch(self.id):
            raise RenderError(f"refusing the CIB id {self.id!r}: not an XML id")
        try:
            root = ET.fromstring(self.xml)
        except ET.ParseError as exc:
            raise RenderError(f"refusing CIB object {self.id}: not well-formed XML ({exc})") from None
        if root.tag not in OBJECT_TAGS.get(self.scope, ()) or root.get("id") != self.id:
            raise RenderError(f"refusing CIB object {self.id}: <{root.tag} id={root.get('id')!r}> does not belong in "
                              f"{self.scope} as {self.id}")
        for element in root.iter():
            element_id = element.get("id")
            if element_id is not None and not ID_RE.fullmatch(element_id):
                raise RenderError(f"refusing CIB object {self.id}: the id {element_id!r} is not an XML id")


@dataclass(frozen=True)
class CibChange:
    """The wanted state of our part of the configuration."""

    objects: tuple[CibObject, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()      # crm_config cluster properties (name, value)
    rsc_defaults: tuple[tuple[str, str], ...] = ()    # resource defaults meta attributes (name, value)
    allowed_errors: tuple[str, ...] = ()              # crm_verify errors that are expected at this stage


@dataclass(frozen=True)
class CibDiff:
    """The result of comparing the wanted configuration with the live one."""

    diff: str                   # crm_diff output (empty: nothing to do)
    summary: tuple[str, ...]    # one line per change, for the plan
    live: bool                  # False: computed against an empty CIB (cluster not running yet)
    verify_output: str = ""

    @property
    def empty(self) -> bool:
        return not self.diff.strip()


class CibError(AxhaError):
    """A CIB edit or verification failed."""


# ---------------------------------------------------------------- XML helpers (pure)


def nvpairs(parent_id: str, pairs: "dict[str, str] | tuple[tuple[str, str], ...]") -> str:
    """nvpair elements with deterministic ids (<parent>-<name>), so a second run produces the same XML."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return "".join(f'<nvpair id="{_attr(parent_id + "-" + name)}" name="{_attr(name)}" value="{_attr(str(value))}"/>'
                   for name, value in items)


def attributes(tag: str, owner: str, pairs: dict[str, str], suffix: str) -> str:
    """<instance_attributes>/<meta_attributes> block for `owner`, empty string when there are no pairs."""
    if not pairs:
        return ""
    block_id = f"{owner}-{suffix}"
    return f'<{tag} id="{_attr(block_id)}">{nvpairs(block_id, pairs)}</{tag}>'


@dataclass(frozen=True)
class Op:
    name: str
    interval: str
    timeout: str
    role: str | None = None

    def xml(self, owner: str) -> str:
        role = f' role="{self.role}"' if self.role else ""
        suffix = f"-{self.role.lower()}" if self.role else ""
        return (f'<op id="{_attr(owner)}-{self.name}-interval-{self.interval}{suffix}" name="{self.name}" '
                f'interval="{self.interval}" timeout="{self.timeout}"{role}/>')


def primitive(rid: str, cls: str, type_: str, provider: str | None = None, params: dict | None = None,
              meta: dict | None = None, ops: tuple[Op, ...] = ()) -> str:
    prov = f' provider="{_attr(provider)}"' if provider else ""
    ops_xml = f'<operations>{"".join(op.xml(rid) for op in ops)}</operations>' if ops else ""
    return (f'<primitive id="{_attr(rid)}" class="{_attr(cls)}"{prov} type="{_attr(type_)}">'
            f'{attributes("instance_attributes", rid, params or {}, "instance_attributes")}'
            f'{attributes("meta_attributes", rid, meta or {}, "meta_attributes")}{ops_xml}</primitive>')


def _attr(value: str) -> str:
    """An attribute value, escaped; a control character (which XML refuses or turns into a space) is refused."""
    return xml_attr(value)


attr = _attr


def ids_in(cib_xml: str) -> set[str]:
    """Every id attribute in a CIB document."""
    try:
        root = ET.fromstring(cib_xml)
    except ET.ParseError as exc:
        raise CibError(f"the CIB is not valid XML ({exc})") from None
    return {el.get("id") for el in root.iter() if el.get("id")}


def summarize_diff(diff_xml: str) -> tuple[str, ...]:
    """One line per change of a crm_diff (format 2) document: 'create primitive fence-node1 in resources'."""
    if not diff_xml.strip():
        return ()
    root = ET.fromstring(diff_xml)
    lines = []
    for change in root.iter("change"):
        op, path = change.get("operation", "?"), change.get("path", "")
        where = _path_label(path)
        if op == "create":
            for child in change:
                lines.append(f"create {child.tag} {child.get('id', '')} in {where}".replace("  ", " "))
        elif op == "modify":
            result = next(iter(change.iter("change-result")), None)
            target = next(iter(result), None) if result is not None else None
            parts = []
            for attr in change.iter("change-attr"):
                if attr.get("operation") == "set":
                    name = attr.get("name")
                    if target is not None and target.tag == "nvpair" and name == "value":
                        name = target.get("name")
                    parts.append(f"{name}={attr.get('value')}")
                else:
                    parts.append(f"unset {attr.get('name')}")
            detail = ", ".join(parts)
            lines.append(f"modify {where}" + (f": {detail}" if detail else ""))
        elif op == "move":
            lines.append(f"move {where} to position {change.get('position')}")
        else:
            lines.append(f"{op} {where}")
    return tuple(lines)


def _path_label(path: str) -> str:
    """'/cib/configuration/resources/primitive[@id='vip']' -> "primitive vip"."""
    steps = [s for s in path.split("/") if s]
    if not steps:
        return path
    last = steps[-1]
    m = re.match(r"^([\w-]+)\[@id='([^']+)'\]$", last)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    return last


def verify_errors(output: str, allowed: tuple[str, ...]) -> list[str]:
    """The error lines of crm_verify output not matched by an allowed substring."""
    errors = [line.strip() for line in output.splitlines()
              if re.search(r"\berror\b", line, re.I) and "Errors found during check" not in line
              and "-V may provide" not in line]
    return [e for e in errors if not any(a in e for a in allowed)]


# ---------------------------------------------------------------- on the node


@dataclass
class CibEditor:
    """Builds a CibChange on a scratch copy of the live CIB on one node and returns the diff to push."""

    runner: object
    timeout: float = TIMEOUT
    log: list = field(default_factory=list)

    def _run(self, argv, *, stdin=None, ok=(0,), what=""):
        result = self.runner.run(list(argv), stdin=stdin, timeout=self.timeout, mutating=False)
        if result.rc not in ok:
            raise CommandFailed(result, f"{what or 'CIB edit'} failed on {self.runner.node}: "
                                        f"`{shlex.join(argv)}` exited {result.rc}",
                                remedy="Read the tool's message; fix the cluster file or the CIB, then run again.")
        return result

    def diff(self, change: CibChange) -> CibDiff:
        scratch = self._run(["mktemp", "-d", "/tmp/axha-cib.XXXXXX"], what="scratch directory").stdout.strip()
        try:
            return self._diff_in(scratch, change)
        finally:
            self.runner.run(["rm", "-rf", "--", scratch], timeout=self.timeout, mutating=False)

    def _diff_in(self, scratch: str, change: CibChange) -> CibDiff:
        orig, new = f"{scratch}/orig.xml", f"{scratch}/new.xml"
        query = self.runner.run(["cibadmin", "--query"], timeout=self.timeout, mutating=False)
        live = query.rc == 0 and query.stdout.strip().startswith("<cib")
        if live:
            base = query.stdout
        else:
            if not any(s in (query.stderr + query.stdout) for s in NOT_RUNNING):
                raise CommandFailed(query, f"cannot read the CIB on {self.runner.node}",
                                    remedy="Check that pacemaker runs on this node (crm_mon -1).")
            base = self._run(["cibadmin", "--empty"], what="empty CIB").stdout
        for path in (orig, new):
            self._run(["dd", f"of={path}", "status=none"], stdin=base, what="CIB copy")
        present = ids_in(base)
        env = ["env", f"CIB_file={new}"]
        for obj in change.objects:
            verb = "--replace" if obj.id in present else "--create"
            self._run(env + ["cibadmin", verb, "--scope", obj.scope, "--xml-text", obj.xml],
                      what=f"{verb[2:]} {obj.id}")
        for name, value in change.properties:
            self._run(env + ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
                      what=f"property {name}")
        if change.rsc_defaults:
            xml = (f'<meta_attributes id="rsc-options">{nvpairs("rsc-options", change.rsc_defaults)}'
                   f"</meta_attributes>")
            self._run(env + ["cibadmin", "--modify", "--allow-create", "--scope", "rsc_defaults", "--xml-text", xml],
                      what="resource defaults")
        verify = self.runner.run(["crm_verify", "-V", "--xml-file", new], timeout=self.timeout, mutating=False)
        output = (verify.stdout + verify.stderr).strip()
        if verify.rc != 0:
            errors = verify_errors(output, change.allowed_errors)
            if errors or not verify_errors(output, ()):
                raise CibError(f"crm_verify rejects the new configuration on {self.runner.node}: "
                               + " | ".join(errors or output.splitlines()[-3:]), node=self.runner.node,
                               remedy="Nothing was pushed. Fix the cause (cluster file, resource agents), then "
                                      "run again.")
        result = self._run(["crm_diff", "--original", orig, "--new", new, "--no-version"], ok=(0, 1),
                           what="crm_diff")
        diff = result.stdout if result.rc == 1 else ""
        return CibDiff(diff, summarize_diff(diff), live, output)


def push_action(node: str, diff: CibDiff, what: str) -> Action:
    """The planned push of a non-empty diff: `cibadmin --patch --xml-pipe` with the diff on stdin."""
    lines = "; ".join(diff.summary) or "configuration changes"
    note = "" if diff.live else " (computed against an empty CIB: the cluster is not running yet)"
    return Action(node, PUSH_ARGV, f"{what}: {lines}{note}", stdin=diff.diff, timeout=TIMEOUT)
