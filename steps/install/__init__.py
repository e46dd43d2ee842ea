"""The install: the ordered steps from two prepared servers to a verified active/passive Axigen cluster."""
from __future__ import annotations

import inspect
from typing import Any

from axha.steps.framework import Step


def storage_steps(spec, options: dict[str, Any]) -> list[Step]:
    """D1's storage steps (DRBD or shared), imported lazily so the cluster half works on its own."""
    from axha.steps.install.storage import STORAGE_STEPS
    steps = []
    for cls in STORAGE_STEPS:
        params = inspect.signature(cls).parameters
        kwargs = {k: v for k, v in (("spec", spec), ("options", options)) if k in params}
        steps.append(cls(**kwargs))
    return steps


def install_steps(spec, options: dict[str, Any] | None = None) -> list[Step]:
    """Access, packages (only with install_packages), storage, Axigen listeners on the VIP, [the quorum device's
    arbiter and certificates], corosync, [corosync-qdevice], pacemaker, fencing, [fence drill], Axigen role,
    verify. options: install_packages, fence_drill, wipe_disk, skip_initial_sync (see axha install)."""
    from axha.steps.install.access import AccessStep
    from axha.steps.install.axigen_config import AxigenConfigStep
    from axha.steps.install.corosync import CorosyncStep
    from axha.steps.install.fencing import FenceDrillStep, FencingStep
    from axha.steps.install.packages import PackagesStep
    from axha.steps.install.pacemaker import PacemakerStep
    from axha.steps.install.role import AxigenRoleStep
    from axha.steps.install.verify import VerifyStep

    options = options or {}
    steps: list[Step] = [AccessStep()]
    if options.get("install_packages"):
        steps.append(PackagesStep())
    steps += storage_steps(spec, options)
    steps.append(AxigenConfigStep())
    if spec.quorum_device is not None:
        from axha.steps.install import qdevice
        steps.append(qdevice.QuorumDevicePreflight(bool(options.get("install_packages"))))
        if options.get("install_packages"):
            steps.append(qdevice.QuorumPackages())
        steps += [qdevice.QnetdStep(), qdevice.QdeviceCertsStep(), CorosyncStep(), qdevice.QdeviceServiceStep()]
    else:
        steps.append(CorosyncStep())
    steps += [PacemakerStep(), FencingStep(), AxigenRoleStep(), VerifyStep()]
    if options.get("fence_drill"):
        # after the role is verified: the drill proves failover of the running service, then verify again
        steps += [FenceDrillStep(), _VerifyAgain()]
    return steps


class _VerifyAgain(Step):
    id = "verify-after-drill"
    title = "Verify again after the fence drill"

    def verify(self, ctx):
        from axha.steps.install.verify import VerifyStep
        return VerifyStep().verify(ctx)
