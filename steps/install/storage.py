"""The storage steps in install order: the DRBD resource file and the resource up (install.drbd_config), metadata
behind the disk guard and the initial sync with live progress (install.drbd_sync), then the filesystem and the Axigen
data moved onto it (install.mail_store); in shared mode the filesystem is on a shared array device."""
from __future__ import annotations

from axha.steps.install.drbd_config import DrbdConfig, DrbdUp
from axha.steps.install.drbd_sync import DrbdMetadata, InitialSync
from axha.steps.install.mail_store import AxigenData, Filesystem

STORAGE_STEPS = (DrbdConfig, DrbdMetadata, DrbdUp, InitialSync, Filesystem, AxigenData)
