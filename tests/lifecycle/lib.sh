# Sourced by the lifecycle tests: a client namespace and a node
# namespace joined by one veth (c0 <-> n0), both named after the test and its
# PID, an edgefw instance name, a temp dir, and a trap that removes all of it —
# processes started (pids+=), the instance, the namespaces — even on failure.
# Skips (77) when not root or without python3 or jq. skip, fail, the jq
# helpers and the namespace and mount cleanup come from tests/lib/common.sh.
EDGEFW=${EDGEFW:-build/edgefw}
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

require_root_python() {
  require_root
  require_cmd python3 jq
}

# test_begin TAG: $tag (TAG-PID, also the instance name $inst), a temp dir
# $tmp, the lists the trap empties ($pids, $cleanups) and the trap itself.
test_begin() {
  tag="$1-$$"
  inst="$tag"
  tmp=$(mktemp -d)
  chmod 0755 "$tmp"
  pids=()
  cleanups=()
  trap two_hosts_cleanup EXIT
  # A signal ends the script through EXIT, so the cleanup runs then too.
  trap 'exit 130' INT TERM HUP
}

# two_hosts TAG NODE_ADDR... : client 198.18.100.7/16 on c0; node addresses on n0.
two_hosts() {
  test_begin "$1"
  shift
  ns_c="$tag-client"
  ns_n="$tag-node"
  netns_add "$ns_c"
  netns_add "$ns_n"
  ip -n "$ns_c" link add c0 type veth peer name n0 netns "$ns_n"
  ip -n "$ns_c" addr add 198.18.100.7/16 dev c0
  for a in "$@"; do ip -n "$ns_n" addr add "$a/16" dev n0; done
  for ns in "$ns_c" "$ns_n"; do ip -n "$ns" link set lo up; done
  ip -n "$ns_c" link set c0 up
  ip -n "$ns_n" link set n0 up
}

two_hosts_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$EDGEFW" unload --instance "$inst" >/dev/null 2>&1 || true
  # The instance's lock file (edgefw keeps it across unloads; a test's
  # instance name is not used again).
  rm -rf "${EDGEFW_RUNDIR:-/run/edgefw}/$inst"
  netns_cleanup
  for f in "${cleanups[@]}"; do eval "$f" || true; done
  mounts_cleanup
  rm -rf "$tmp"
}

# private_state [MODE]: edgefw's state in this test's own bpffs (mounted at
# $tmp/bpf with MODE, default 0700) and run directory, so parallel runs never
# share /sys/fs/bpf/edgefw or /run/edgefw. Sets $pins (the instance's pins).
private_state() {
  bpffs_mount "$tmp/bpf" "${1:-0700}" || fail "cannot mount a bpffs at $tmp/bpf"
  export EDGEFW_BPFFS="$tmp/bpf/edgefw" EDGEFW_RUNDIR="$tmp/run"
  pins="$EDGEFW_BPFFS/$inst"
}

# test_user: a throwaway non-root user (removed by the trap). Sets $user.
test_user() {
  require_cmd useradd setpriv
  user="ef$$"
  user=${user:0:30}
  useradd -M -N -s /usr/sbin/nologin "$user" >/dev/null
  cleanups+=("userdel '$user' 2>/dev/null")
}
as_user() { setpriv --reuid="$user" --regid=nogroup --clear-groups "$@"; }

# one_host TAG: a single namespace holding a veth pair n0 <-> n1 (both up), the
# NICs edgefw is loaded on; same naming and trap as two_hosts.
one_host() {
  test_begin "$1"
  ns="$tag"
  ns_c=""
  ns_n="$ns"
  netns_add "$ns"
  ip -n "$ns" link add n0 type veth peer name n1
  ip -n "$ns" link set n0 up
  ip -n "$ns" link set n1 up
}

# start_stream (after two_hosts with 198.18.155.30 and .10 on the node): what
# the reload proofs carry, from tests/lifecycle/traffic.py -- a 1 kpps UDP
# stream to STUN 198.18.155.30:3478 and a TCP connection echoing through
# 198.18.155.10:443, until $tmp/stop appears. Sets $client (the sender's pid).
start_stream() {
  ip netns exec "$ns_n" python3 tests/lifecycle/traffic.py udp-sink 198.18.155.30 3478 "$tmp/udp" &
  pids+=($!)
  ip netns exec "$ns_n" python3 tests/lifecycle/traffic.py tcp-echo 198.18.155.10 443 &
  pids+=($!)
  for _ in $(seq 50); do [ -e "$tmp/udp.ready" ] && break; sleep 0.1; done
  sleep 0.3
  ip netns exec "$ns_c" python3 tests/lifecycle/traffic.py client 198.18.155.30 3478 198.18.155.10 443 \
    "$tmp/stop" "$tmp/client" &
  client=$!
  pids+=("$client")
}

# stop_stream: ends what start_stream began; fails unless the TCP connection
# lasted. Sets $sent, $echoes (client side) and $received (UDP sink).
stop_stream() {
  touch "$tmp/stop"
  wait "$client" || fail "the TCP connection did not survive"
  for _ in $(seq 50); do [ -e "$tmp/udp" ] && break; sleep 0.1; done
  read -r sent echoes <"$tmp/client"
  received=$(cat "$tmp/udp")
}

# A second site file that switches features off, so two reloads differ.
site_without() {
  local out="$tmp/site-without.yaml"
  { cat policies/site-test.yaml; printf 'features:\n'; for f in "$@"; do printf '  %s: false\n' "$f"; done; } > "$out"
  echo "$out"
}
