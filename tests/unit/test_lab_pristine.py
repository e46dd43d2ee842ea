"""lab.pristine.pristine_axigen: the stand-in version on a node's pristine disk, read from its dpkg status file (what
`lab up` compares with the package it would install, so a lab changed by tests is never snapshotted)."""
from axha_lab.pristine import pristine_axigen


class Node:
    def __init__(self, state_dir):
        self.state_dir = state_dir


STATUS = """Package: adduser
Status: install ok installed
Version: 3.134

Package: axigen
Status: install ok installed
Priority: optional
Version: 10.5.0-1
Description: Axigen Mail Server (axha lab stand-in)
 Version: 99 (a continuation line, not a field)

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
"""


def test_reads_the_axigen_stanza_only(tmp_path):
    status = tmp_path / "pristine/var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(STATUS)
    assert pristine_axigen(Node(tmp_path)) == "10.5.0-1"


def test_removed_or_absent_is_none(tmp_path):
    assert pristine_axigen(Node(tmp_path)) is None
    status = tmp_path / "pristine/var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(STATUS.replace("install ok installed\nPriority", "deinstall ok config-files\nPriority"))
    assert pristine_axigen(Node(tmp_path)) is None
