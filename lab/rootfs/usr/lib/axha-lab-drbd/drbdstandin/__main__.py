"""Entry point: python3 -m drbdstandin {daemon|drbdsetup|drbdmeta|modprobe|modinfo|ctl} ARGS."""

import sys

from . import cli


def main() -> int:
    prog, args = sys.argv[1], sys.argv[2:]
    if prog == "daemon":
        from . import daemon
        return daemon.main(args)
    table = {"drbdsetup": cli.drbdsetup, "drbdmeta": cli.drbdmeta, "modprobe": cli.modprobe,
             "modinfo": cli.modinfo, "ctl": cli.ctl}
    return table[prog](args)


if __name__ == "__main__":
    sys.exit(main())
