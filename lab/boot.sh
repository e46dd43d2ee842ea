#!/bin/sh
# axha lab node init: runs as the child of tini (PID 1) inside the node's new UTS/IPC/mount/PID namespaces
# and its network namespace. Builds the node's root (overlays, private /dev, /run, /sys), brings up its NICs,
# starts sshd and the services enabled in /etc/rc2.d, then waits. Killing PID 1 is a power cut.
# Usage: boot.sh ENVFILE  (written by lab/nodes.py: NODE_NAME STATE ROOTFS PROFILE VDB VDC ADDRS ABSENT)
set -u
. "$1"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
log() { echo "[$(date -u +%H:%M:%S) boot $NODE_NAME] $*"; }
die() { log "FATAL: $*"; exit 1; }
log "booting"
hostname "$NODE_NAME"
mount --make-rprivate /

# Stage the host-side sources under a private /run before any overlay hides them (upper dirs must not
# sit on an overlay, so they are reached through bind mounts of the host filesystem).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || die "tmpfs /run"
S=/run/.axlab
mkdir -p $S/state $S/rootfs $S/profile
mount --bind "$STATE" $S/state || die "bind state"
mount --bind "$ROOTFS" $S/rootfs || die "bind rootfs"
[ -n "$PROFILE" ] && { mount --bind "$PROFILE" $S/profile || die "bind profile"; }
for d in etc usr root opt srv home var; do
    lower=/$d
    [ -d $S/rootfs/$d ] && lower=$S/rootfs/$d:$lower
    [ -n "$PROFILE" ] && [ -d $S/profile/$d ] && lower=$S/profile/$d:$lower
    mkdir -p $S/state/upper/$d $S/state/work/$d
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$S/state/upper/$d,workdir=$S/state/work/$d" /$d \
        || die "overlay /$d"
done
# Hardware look: profile files for /proc are bind-mounted over the node's own procfs.
if [ -n "$PROFILE" ] && [ -d $S/profile/proc ]; then
    (cd $S/profile/proc && find . -type f) | while read -r f; do
        f=${f#./}
        [ -e "/proc/$f" ] && mount --bind "$S/profile/proc/$f" "/proc/$f" && log "profile: /proc/$f"
    done
fi
umount -l /run
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/lock /run/sshd && chmod 1777 /run/lock
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
# The lab's own state (keys, other nodes' disks) is not part of this machine.
[ -d /var/lib/axha-lab ] && mount -t tmpfs -o ro,mode=0755 tmpfs /var/lib/axha-lab

# /sys for this network namespace, a private /dev with this node's disks.
umount -l /sys 2>/dev/null; mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx; ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
ln -s /proc/kcore /dev/core
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# the nodes' disks (an arbiter has none)
[ -n "$VDB" ] && { mknod -m 660 /dev/vdb b ${VDB%:*} ${VDB#*:}; chgrp disk /dev/vdb; }
[ -n "$VDC" ] && { mknod -m 660 /dev/vdc b ${VDC%:*} ${VDC#*:}; chgrp disk /dev/vdc; }
: >/run/utmp

# Network: interfaces were created by the host; a boot gives them their addresses afresh.
ip link set lo up
for spec in $ADDRS; do   # mgmt0=192.168.77.11/24 ...
    ifc=${spec%%=*}; addr=${spec#*=}
    ip link show "$ifc" >/dev/null 2>&1 || continue
    ip addr flush dev "$ifc"
    ip link set "$ifc" up
    ip addr add "$addr" dev "$ifc"
done

# First boot of this disk: a node fresh from the installer has only sshd enabled.
if [ ! -e /var/lib/axha-lab-node/provisioned ]; then
    for s in $(ls /etc/rc2.d | sed -n 's/^S[0-9][0-9]//p'); do
        [ "$s" = ssh ] || systemctl disable "$s" >/dev/null 2>&1
    done
    systemctl enable ssh >/dev/null 2>&1
    mkdir -p /var/lib/axha-lab-node && date -u +%FT%TZ > /var/lib/axha-lab-node/provisioned
    log "first boot: only ssh enabled"
fi

log "starting services"
for link in $(ls /etc/rc2.d/ | grep '^S[0-9][0-9]' | sort); do
    s=${link#S[0-9][0-9]}
    [ -x "/etc/init.d/$s" ] || continue
    if timeout 120 "/etc/init.d/$s" start >/dev/null 2>&1; then log "started $s"; else log "failed to start $s"; fi
done
date -u +%FT%TZ > /run/axha-lab-booted
log "up"

trap 'log "halt"; exit 0' TERM INT
while :; do sleep 86400 & wait $!; done
