# shellcheck shell=bash
# tests/lib/common.sh -- sourced by the e2e, lifecycle and monitor suites (through
# their own lib.sh): one meaning for skip and fail, the checks a test makes
# before it starts, JSON read with jq, and the namespaces and mounts a test
# made, removed by its cleanup trap.
#
#   skip MSG                 exit 77: a missing tool or capability -- a skip, never a pass
#   require_root             skip unless root
#   require_cmd CMD...       skip unless every command is there ($REQUIRE_HINT says how to get them)
#   fail MSG                 the test failed: "FAIL: MSG", then the test's on_fail (logs), exit 1
#   json_get FILTER [ARG..]  jq -r FILTER on stdin, with --arg a1 ARG1 ...
#   status_get INST FILTER   jq -r FILTER on `edgefw status --instance INST --json`
#   stats_get INST FILTER    jq -r FILTER on `edgefw stats --instance INST --json`
#   netns_add NAME           ip netns add; netns_cleanup kills what runs there and deletes it
#   bpffs_mount DIR [MODE]   a bpffs of the test's own; mounts_cleanup unmounts it
#   free_port                a TCP port on 127.0.0.1 nobody listens on right now
#
# Names carry the test's tag and its PID ($$), so parallel runs never meet.

skip() {
  printf 'SKIP%s: %s\n' "${TEST_NAME:+ $TEST_NAME}" "$*"
  exit 77
}

require_root() {
  [ "$(id -u)" -eq 0 ] || skip "needs root${1:+ ($1)}"
}

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip "missing tool: $c${REQUIRE_HINT:+ ($REQUIRE_HINT)}"
  done
}

fail() {
  echo "FAIL: $*"
  if declare -F on_fail >/dev/null; then on_fail || true; fi
  exit 1
}

json_get() {
  local filter=$1 args=() i=1
  shift
  for a in "$@"; do
    args+=(--arg "a$i" "$a")
    i=$((i + 1))
  done
  jq -r "${args[@]}" "$filter"
}

status_get() { "$EDGEFW" status --instance "$1" --json | json_get "${@:2}"; }
stats_get() { "$EDGEFW" stats --instance "$1" --json | json_get "${@:2}"; }

TEST_NS=()
TEST_MOUNTS=()

netns_add() {
  ip netns add "$1" || fail "ip netns add $1"
  TEST_NS+=("$1")
}

netns_cleanup() {
  local ns p
  for ns in "${TEST_NS[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for ns in "${TEST_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  TEST_NS=()
}

bpffs_mount() {
  mkdir -p "$1"
  mount -t bpf -o "mode=${2:-0700}" bpf "$1" || return 1
  TEST_MOUNTS+=("$1")
}

mounts_cleanup() {
  local m
  for m in "${TEST_MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
  TEST_MOUNTS=()
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
