"""The one read-only shell script preflight runs per node (its output is cut into sections by steps.sections).

Every value from the cluster file reaches the script as a positional argument after the script (never pasted
into it), so a node name or device path cannot change what runs; where a tool takes a package, service or address
as an operand, `--` comes first (validation already refuses a value starting with `-`). The only input on stdin is
the option list for `fence_ipmilan` (the peer's BMC password included), which fence-agents read as key=value lines
when the agent gets no command-line arguments: the password is never in any argv.
"""
from __future__ import annotations

from axha.steps.disk import DISK_FUNCS, preflight_lines
from axha.steps.sections import SEC_FUNC

SCRIPT_NAME = "axha-preflight"

PACKAGES = ("pacemaker", "corosync", "drbd-utils", "fence-agents", "resource-agents")

# $1 sections (comma list or "all"), $2 disk, $3 link0 iface, $4 peer link0 address, $5 link1 iface,
# $6 peer link1 address, $7 Axigen package, $8 Axigen service, $9 1 = run fence_ipmilan with stdin's options;
# the rest: host names to resolve. Read-only: nothing here writes a file, loads a module or changes a setting.
SCRIPT = r"""
PKGS="pacemaker corosync drbd-utils fence-agents resource-agents"
S=",$1,"; DISK=$2; IF0=$3; PEER0=$4; IF1=$5; PEER1=$6; AXPKG=$7; AXSVC=$8; FENCE=$9
shift 9
want() { case "$S" in *",$1,"*|*",all,"*) return 0;; esac; return 1; }
""" + SEC_FUNC + r"""
t() { timeout "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
cpufreq() { for f in /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq; do [ -r "$f" ] && cat "$f"; done; return 0; }
mdadm_all() { have mdadm || { echo "mdadm: not installed"; return 127; }
  l=$(awk '/^md[0-9]+ :/ {print "/dev/" $1}' /proc/mdstat 2>/dev/null)
  [ -n "$l" ] || l=$(t 10 mdadm --detail --scan 2>/dev/null | awk '$1 == "ARRAY" && $2 ~ /^\/dev\// {print $2}')
  for d in $l; do echo "@@md $d"; t 10 mdadm --detail "$d"; done; }
tool() { x=$1; shift; have "$x" || { echo "$x: not installed"; return 127; }; t 20 "$x" "$@"; }
nics() { for d in /sys/class/net/*; do i=${d##*/}; [ "$i" = lo ] && continue
  phys=0; [ -e "$d/device" ] && phys=1
  printf '%s carrier=%s speed=%s mtu=%s operstate=%s physical=%s\n' "$i" "$(cat "$d/carrier" 2>/dev/null || echo -)" \
    "$(cat "$d/speed" 2>/dev/null || echo -)" "$(cat "$d/mtu" 2>/dev/null)" "$(cat "$d/operstate" 2>/dev/null)" "$phys"
  done; }
pinger() { have ping || { echo "ping: not installed"; return 127; }; [ -n "$2" ] || { echo "no address"; return 2; }
  ping -n -I "$1" -c 2 -i 0.05 -w 2 -- "$2"; }
fence() { [ "$FENCE" = 1 ] || { echo "not requested"; return 0; }
  have fence_ipmilan || { echo "fence_ipmilan: not installed"; return 127; }
  t 30 fence_ipmilan <&4; }
""" + DISK_FUNCS + r"""pkgs() { if have dpkg-query; then
    dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n' -- $PKGS "$AXPKG"
  else rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\tii \n' -- $PKGS "$AXPKG"; fi; }
axen() { if have systemctl; then t 10 systemctl is-enabled -- "$AXSVC"; return; fi
  for f in /etc/rc2.d/S*"$AXSVC" /etc/rc3.d/S*"$AXSVC"; do [ -e "$f" ] && { echo enabled; return 0; }; done
  echo disabled; return 1; }
policy() { have apt-cache || { echo "apt-cache: not installed"; return 127; }
  ok=" $(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' $PKGS 2>/dev/null | awk '$1 == "ii" {printf "%s ", $2}')"; m=
  for x in $PKGS; do case "$ok" in *" $x "*) ;; *) m="$m $x";; esac; done
  [ -n "$m" ] || { echo "all installed"; return 0; }; t 30 apt-cache policy $m; }
timesync() { if have chronyc; then t 5 chronyc -n tracking; elif have ntpq; then t 5 ntpq -pn; else echo "no chronyc or ntpq"; return 127; fi; }
exec 4<&0
want clock && sec clock date +%s.%N
want hostname && sec hostname uname -n
want cpuinfo && sec cpuinfo cat /proc/cpuinfo
want lscpu && sec lscpu lscpu -J
want cpufreq && sec cpufreq cpufreq
want meminfo && sec meminfo cat /proc/meminfo
want mdstat && sec mdstat cat /proc/mdstat
want mdadm && sec mdadm mdadm_all
want storcli && sec storcli tool storcli64 /call show all J
want perccli && sec perccli tool perccli64 /call show all J
want ssacli && sec ssacli tool ssacli ctrl all show config detail
want megacli && sec megacli tool megacli -LDPDInfo -aALL -NoLog
want ip_link && sec ip_link ip -j -d link show
want ip_addr && sec ip_addr ip -j addr show
want nics && sec nics nics
want ping_link0 && sec ping_link0 pinger "$IF0" "$PEER0"
want ping_link1 && sec ping_link1 pinger "$IF1" "$PEER1"
want fence_peer && sec fence_peer fence
""" + preflight_lines() + r"""want os_release && sec os_release cat /etc/os-release
want proc_mount && sec proc_mount awk '$2 == "/proc" && $3 == "proc" {print $4}' /proc/self/mounts
want packages && sec packages pkgs
want apt_policy && sec apt_policy policy
want drbd_module && sec drbd_module sh -c 'cat /proc/drbd 2>/dev/null || modinfo -F version drbd'
want axigen_enabled && sec axigen_enabled axen
want timesync && sec timesync timesync
want timedatectl && sec timedatectl t 5 timedatectl show
want getent && sec getent getent hosts "$@"
want nft && sec nft tool nft -j list ruleset
want iptables && sec iptables tool iptables-save
exit 0
"""

def script_argv(sections: str, disk: str, if0: str, peer0: str, if1: str, peer1: str, axigen_package: str,
                axigen_service: str, fence: bool, names: tuple[str, ...]) -> list[str]:
    """The argv that runs the script: values go as positional parameters after the script, never inside it."""
    return ["sh", "-c", SCRIPT, SCRIPT_NAME, sections, disk, if0, peer0, if1, peer1, axigen_package,
            axigen_service, "1" if fence else "0", *names]
