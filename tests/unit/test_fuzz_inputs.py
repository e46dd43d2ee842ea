"""Property tests (Hypothesis) over the cluster-file and secrets-file loaders and every renderer (issue 11).

- The loaders, on any text or bytes: a valid result or the loader's own error (SpecError / InputError, exit 2,
  with file and key), never another exception, always quickly.
- Every renderer, on any spec the loader accepts: the output has the structure it must have, with each value in
  its place, whole.
- Every renderer, on values validation would refuse (injected into a spec built in code): RenderError, or the
  same structure with the value whole; never a new line, block, option or element.
- fence_ipmilan's stdin options, read back by fence-agents' own parser: the values that went in.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axha.checks.preflight import fence_options
from axha.steps import cib
from axha.steps.drbd_resource_file import render_resource
from axha.steps.errors import InputError
from axha.steps.install.corosync import render_conf
from axha.steps.install.fencing import fencing_change
from axha.steps.install.role import role_change
from axha.steps.render import RenderError, option_lines
from axha.steps.secrets import Secrets, read_secrets_file
from axha.steps.spec_load import SpecError, parse_cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "tests/fixtures/cluster-example.yaml").read_text()
SPEC = parse_cluster(EXAMPLE, "c.yaml")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like what breaks config files: structure characters, line breaks, quotes, unicode
NASTY = st.text(alphabet=st.sampled_from(list("\n\r\t\x00\x0b\x85\u2028 {}[]\"';#=:%$`\\/-_.,&<>*!|@~")) |
                st.characters(), max_size=40)

# every scalar value in the example, as (text before it, the value), so a strategy can replace one of them
SCALARS = [(m.start(2), m.end(2)) for m in re.finditer(r"(: |\{|, )([^{},\n]+?)(?=[,}\n])", EXAMPLE)
           if ":" not in m.group(2)]


def yaml_value(text: str) -> str:
    """`text` as a YAML double-quoted scalar (so any character can get in, escapes included)."""
    return json.dumps(text)


@st.composite
def mutated_cluster_file(draw) -> str:
    """The example with one value replaced by hostile text (quoted, or raw), or a few raw edits."""
    start, end = draw(st.sampled_from(SCALARS))
    value = draw(NASTY | st.integers(-10**30, 10**30).map(str) | st.sampled_from(
        ["1:00", "0x1F", "0o17", "~", "yes", ".inf", "-.nan", "::ffff:192.168.77.12", "fe80::1%eth0", "*a", "&a x",
         "!!python/object:os.system", "/dev/../etc/passwd", "-h", ".."]))
    quoted = draw(st.booleans())
    return EXAMPLE[:start] + (yaml_value(value) if quoted else value) + EXAMPLE[end:]


def structure_of_corosync(text: str) -> list:
    """corosync.conf as nested (section, [children]) and (key, value) items; AssertionError on anything else."""
    stack: list[list] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            section = line[:-1].strip()
            assert re.fullmatch(r"[a-z_]+", section), line
            node: list = []
            stack[-1].append((section, node))
            stack.append(node)
        elif line == "}":
            stack.pop()
            assert stack, "unbalanced }"
        else:
            key, sep, value = line.partition(":")
            assert sep and re.fullmatch(r"[a-z_0-9]+", key) and value.strip(), line
            assert not set(value) & set("{}#"), line
            stack[-1].append((key, value.strip()))
    assert len(stack) == 1, "unclosed {"
    return stack[0]


def check_corosync(spec) -> None:
    tree = structure_of_corosync(render_conf(spec))
    assert [name for name, _ in tree] == ["totem", "nodelist", "quorum", "logging"]
    nodes = dict(tree)["nodelist"]
    assert [name for name, _ in nodes] == ["node", "node"]
    for (_, items), node in zip(nodes, spec.nodes):
        assert dict(items) == {"name": node.name, "nodeid": str(spec.nodes.index(node) + 1),
                               "ring0_addr": node.link0.address, "ring1_addr": node.link1.address}
    assert dict(dict(tree)["totem"])["cluster_name"] == spec.name


def drbd_statements(tokens: list[str], at: int = 0) -> tuple[list, int]:
    """DRBD config tokens as statements: (words, block or None) until the closing brace."""
    out, words = [], []
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if token == ";":
            out.append((words, None))
            words = []
        elif token == "{":
            block, at = drbd_statements(tokens, at)
            out.append((words, block))
            words = []
        elif token == "}":
            assert not words, words
            return out, at
        else:
            words.append(token)
    assert not words, words
    return out, at


def check_drbd(spec) -> None:
    text = "\n".join(line.split("#", 1)[0] for line in render_resource(spec).splitlines())
    tokens = re.findall(r'"[^"\n]*"|[{};]|[^\s{};"]+', text)
    top, end = drbd_statements(tokens)
    assert end == len(tokens) and len(top) == 1
    (words, body) = top[0]
    assert words == ["resource", spec.storage.drbd.resource]
    ons = [(w, b) for w, b in body if b is not None and w[0] == "on"]
    assert [w for w, _ in ons] == [["on", name] for name in spec.node_names]
    for (_, block), node in zip(ons, spec.nodes):
        assert [w for w, b in block if w[0] == "disk"] == [["disk", node.backing_disk]]
    [connection] = [b for w, b in body if w == ["connection"]]
    assert [len(b) for w, b in connection] == [2, 2]
    assert [w[1] for _, b in connection for w, _ in b] == list(spec.node_names) * 2


def check_cib(spec) -> None:
    for change in (fencing_change(spec), role_change(spec, "lsb")):
        for obj in change.objects:
            root = ET.fromstring(obj.xml)
            assert root.get("id") == obj.id
    fence = fencing_change(spec).objects[0]
    params = {nv.get("name"): nv.get("value") for nv in ET.fromstring(fence.xml).iter("nvpair")}
    node = spec.nodes[0]
    assert params["ip"] == node.bmc.address and params["username"] == node.bmc.user


def read_like_fence_agents(text: str) -> dict[str, str]:
    """fence-agents' _parse_input_stdin (fencing.py, 4.12) on a text stream: universal newlines, each line
    stripped, comments and blank lines skipped, split at the first '=', one pair of outer double quotes removed.
    test_fence_agents_read_back_exactly_the_values_we_render checks the real one agrees."""
    options = {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, value = (line + "=").split("=", 1)
        options[name] = re.sub(r'^"(.*)"$', r"\1", value[:-1])
    return options


def check_fence_options(spec) -> None:
    for target in spec.nodes:
        text = fence_options(spec, Secrets(bmc_passwords={target.name: "pw"}), target)
        assert read_like_fence_agents(text) == {
            "ip": target.bmc.address, "ipport": str(target.bmc.port), "username": target.bmc.user, "password": "pw",
            "lanplus": "1", "action": "status", "verbose": "1", "power_timeout": "10"}


@FUZZ
@given(mutated_cluster_file())
def test_the_cluster_loader_accepts_or_refuses_cleanly_and_what_it_accepts_renders_soundly(text):
    started = time.monotonic()
    try:
        spec = parse_cluster(text, "/x/c.yaml")
    except SpecError as exc:
        assert exc.exit_code == 2 and str(exc).startswith("/x/c.yaml")
        assert exc.key and exc.message
        return
    finally:
        assert time.monotonic() - started < 2.0   # the behaviour under test (bounded work on any input), in-process
    check_corosync(spec)
    check_drbd(spec)
    check_cib(spec)
    check_fence_options(spec)


@FUZZ
@given(st.text(max_size=3000))
def test_any_text_is_a_spec_or_a_spec_error(text):
    try:
        parse_cluster(text, "c.yaml")
    except SpecError as exc:
        assert exc.exit_code == 2


@FUZZ
@given(st.binary(max_size=2000) | mutated_cluster_file().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_as_a_secrets_file_are_read_or_refused_as_input_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("s") / "s.yaml"
    path.write_bytes(data)
    path.chmod(0o600)
    try:
        read_secrets_file(path)
    except InputError as exc:
        assert exc.exit_code == 2 and str(path) in str(exc)


# ---------------------------------------------------------------- renderers past validation


def node_with(i: int, **changes):
    node = SPEC.nodes[i]
    links = {k: v for k, v in changes.items() if k in ("link0", "link1")}
    bmc = {k[4:]: v for k, v in changes.items() if k.startswith("bmc_")}
    rest = {k: v for k, v in changes.items() if k not in links and not k.startswith("bmc_")}
    for which, address in links.items():
        rest[which] = dataclasses.replace(getattr(node, which), address=address)
    if bmc:
        rest["bmc"] = dataclasses.replace(node.bmc, **bmc)
    nodes = list(SPEC.nodes)
    nodes[i] = dataclasses.replace(node, **rest)
    return dataclasses.replace(SPEC, nodes=tuple(nodes))


FIELDS = ["name", "link0", "link1", "backing_disk", "bmc_address", "bmc_user"]


@FUZZ
@given(field=st.sampled_from(FIELDS), value=NASTY, which=st.integers(0, 1))
def test_a_renderer_refuses_or_keeps_its_structure_whatever_gets_past_validation(field, value, which):
    spec = node_with(which, **{field: value})
    for check in (check_corosync, check_drbd, check_cib, check_fence_options):
        try:
            check(spec)
        except RenderError:
            pass


@FUZZ
@given(value=NASTY)
def test_the_cluster_name_and_resource_cannot_break_out_of_the_config_files(value):
    for spec in (dataclasses.replace(SPEC, name=value),
                 dataclasses.replace(SPEC, storage=dataclasses.replace(
                     SPEC.storage, drbd=dataclasses.replace(SPEC.storage.drbd, resource=value)))):
        for check in (check_corosync, check_drbd):
            try:
                check(spec)
            except RenderError:
                pass


@FUZZ
@given(value=NASTY)
def test_a_cib_attribute_is_escaped_or_refused_and_the_element_stays_one(value):
    try:
        xml = cib.primitive("p1", "ocf", "Dummy", "heartbeat", {"x": value})
    except RenderError:
        return
    root = ET.fromstring(xml)
    assert [nv.get("value") for nv in root.iter("nvpair")] == [value]
    cib.CibObject("resources", "p1", xml)


def test_a_cib_object_that_is_not_one_element_of_its_scope_is_refused():
    with pytest.raises(RenderError):
        cib.CibObject("constraints", "loc-x", '<rsc_location id="loc-x"/><primitive id="evil"/>')
    with pytest.raises(RenderError):
        cib.CibObject("constraints", "loc-x", '<primitive id="loc-x"/>')
    with pytest.raises(RenderError):
        cib.CibObject("resources", "a b", '<primitive id="a b"/>')


# ---------------------------------------------------------------- fence-agents read back what we wrote

FENCE_PARSER = r"""
import io, json, sys
sys.path.insert(0, "/usr/share/fence")
import fencing
out = []
for text in json.load(sys.stdin):
    sys.stdin = io.StringIO(text)
    out.append(fencing._parse_input_stdin(["ipaddr", "ipport", "login", "passwd", "action"]))
print(json.dumps(out))
"""


def fence_agents_python() -> str | None:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, '/usr/share/fence'); "
                            "import fencing"], capture_output=True, timeout=60)
    return "/usr/bin/python3" if probe.returncode == 0 else None


def test_fence_agents_read_back_exactly_the_values_we_render():
    python = fence_agents_python() if Path("/usr/share/fence/fencing.py").exists() else None
    if python is None:
        pytest.skip("fence-agents (fencing.py) not installed here")
    rnd = random.Random(11)
    alphabet = " \"'=#\\$`!%&()*+,-./:;<>?@[]^_{|}~abcXYZ019äß€"
    passwords = [" lead", "trail ", '"quoted"', '"', '""', "a=b=c", "#not-a-comment", "  ", "x\"", "ü"]
    passwords += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 24))) for _ in range(300)]
    texts = [option_lines([("ip", "10.0.0.1"), ("username", "ADMIN"), ("password", p), ("action", "status")])
             for p in passwords]
    result = subprocess.run([python, "-c", FENCE_PARSER], input=json.dumps(texts), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    for password, options in zip(passwords, parsed):
        assert options["--password"] == password, (password, options)
        assert options["--ip"] == "10.0.0.1" and options["--username"] == "ADMIN"
        assert set(options) - {"--verbose-level"} == {"--ip", "--username", "--password", "--action"}


@FUZZ
@given(st.tuples(st.text(max_size=15), st.sampled_from(["\n", "\r", "\r\n", "\x85", "\u2028", "\x0b", "\x00"]),
                 st.text(max_size=15)).map("".join))
def test_a_line_break_never_reaches_the_fence_agent(password):
    with pytest.raises(RenderError) as info:
        option_lines([("password", password)], secret={"password"})
    assert password not in str(info.value) or not password.strip()
