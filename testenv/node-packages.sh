#!/usr/bin/env bash
# Installs the Debian packages the test environment's real node needs (see README, "A real
# node"): the container runtime (containerd, runc), the CNI plugins, iptables (the kubelet's
# and kube-proxy's rules, inside the node's own network namespace), iproute2 (the veth pair),
# busybox-static and bind9-dnsutils (programs copied into the locally built PD/TiKV images).
#
#   sudo bash testenv/node-packages.sh          # or as root; .ci/run calls it
#   bash testenv/node-packages.sh --check       # exit 1 naming what is missing, install nothing
#
# Idempotent and non-interactive: packages already installed are not touched, apt never
# asks (DEBIAN_FRONTEND=noninteractive, stdin from /dev/null), and no service is started
# (the node runs its own containerd with a private socket and root).
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 busybox-static bind9-dnsutils)
# What the harness runs from them (and from util-linux/iproute2, present on every Debian).
COMMANDS=(/usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/bin/ctr /usr/sbin/runc
  /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap
  /usr/sbin/iptables /bin/busybox /usr/bin/nslookup /usr/bin/unshare /usr/bin/nsenter /usr/sbin/ip)

log() { printf '[node-packages] %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s\n' "$p"
  done
}

missing_commands() {
  local c
  for c in "${COMMANDS[@]}"; do [ -x "$c" ] || printf '%s\n' "$c"; done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "ERROR: not a Debian-based system (no dpkg-query); install by hand: ${PACKAGES[*]}"
  exit 1
fi

mapfile -t need < <(missing_packages)
if [ "${1:-}" = "--check" ]; then
  mapfile -t cmds < <(missing_commands)
  if [ ${#need[@]} -gt 0 ] || [ ${#cmds[@]} -gt 0 ]; then
    log "missing packages: ${need[*]:-none}; missing commands: ${cmds[*]:-none}"
    log "install them with: sudo bash testenv/node-packages.sh"
    exit 1
  fi
  exit 0
fi

if [ ${#need[@]} -eq 0 ]; then
  log "all installed: ${PACKAGES[*]}"
else
  if [ "$(id -u)" -ne 0 ]; then
    log "ERROR: installing ${need[*]} needs root (run: sudo bash testenv/node-packages.sh)"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Debian's containerd would try to start the system-wide daemon from its postinst. A
  # policy-rc.d that answers 101 ("action forbidden") stops that; one that already exists
  # (Docker-built images ship one) is left as it is.
  policy=/usr/sbin/policy-rc.d
  placed=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# placed by tikv-operator testenv/node-packages.sh during apt-get install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    placed=1
  fi
  trap '[ "$placed" -eq 1 ] && rm -f "$policy"' EXIT
  start=$SECONDS
  log "installing ${need[*]}"
  # The package lists may be missing on a fresh machine, or too old for the pinned mirror.
  if ! apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null; then
    log "apt-get install failed; updating the package lists and retrying"
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null
  fi
  log "installed in $(( SECONDS - start ))s"
fi

mapfile -t cmds < <(missing_commands)
if [ ${#cmds[@]} -gt 0 ]; then
  log "ERROR: installed, but these are still missing: ${cmds[*]}"
  exit 1
fi
