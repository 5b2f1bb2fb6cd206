#!/usr/bin/env bash
# Safe filesystem use (issue 18, item 1; issue 17, bpffs on its own). On a
# bpffs mounted the way a bare `mount -t bpf bpf DIR` leaves it (mode 1777), a
# local user plants a symlink where edgefw's directory goes, pointing at a
# root-owned directory with a canary file: load and unload refuse, saying what
# is wrong, and the canary survives. The same for an instance directory that
# is a symlink, a directory of another owner or mode. And
# where nothing is mounted at /sys/fs/bpf, edgefw (as root) mounts bpffs
# itself, mode 0700, saying so on stderr -- checked in a private mount and PID
# namespace so the host's /sys/fs/bpf is never touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
one_host effs
private_state 1777
test_user
EDGEFW=$(realpath "$EDGEFW")
load() { "$EDGEFW" load policies/lync2010-edge-hlb.yaml --site policies/site-test.yaml --node edge1 \
  --iface internal=n0 --netns "$ns" --instance "$inst" "$@"; }
attached() { ip -n "$ns" -d link show n0 2>/dev/null | grep -q 'prog/xdp'; }

victim="$tmp/victim"
mkdir -m 0700 "$victim"
echo canary >"$victim/canary"
canary_ok() { [ "$(cat "$victim/canary" 2>/dev/null)" = canary ] || fail "the canary in $victim is gone: $1"; }

# 1. edgefw's directory is a user's symlink to a root-owned directory.
as_user ln -s "$victim" "$EDGEFW_BPFFS"
out=$(load 2>&1) && fail "load through a symlinked edgefw directory succeeded"
grep -q "$EDGEFW_BPFFS is a symbolic link" <<<"$out" || fail "symlink message: $out"
grep -q "rm -r $EDGEFW_BPFFS" <<<"$out" || fail "symlink message has no fix: $out"
out=$("$EDGEFW" unload --instance "$inst" 2>&1) && fail "unload through a symlink succeeded"
grep -q "is a symbolic link" <<<"$out" || fail "unload symlink message: $out"
# The victim's own name as the instance: what the attack aims at.
out=$("$EDGEFW" unload --instance canary 2>&1) && fail "unload of 'canary' through a symlink succeeded"
canary_ok "after load/unload through a symlinked edgefw directory"
attached && fail "a refused load attached XDP"
rm "$EDGEFW_BPFFS"

# 2. edgefw's directory made by the user (another owner).
as_user mkdir -m 0700 "$EDGEFW_BPFFS"
out=$(load 2>&1) && fail "load into a user's directory succeeded"
grep -q "is owned by uid $(id -u "$user"), not root" <<<"$out" || fail "owner message: $out"
rmdir "$EDGEFW_BPFFS"

# 3. Root's, but the wrong mode.
mkdir -m 0755 "$EDGEFW_BPFFS"
out=$(load 2>&1) && fail "load into a 0755 directory succeeded"
grep -q "has mode 0755, not 0700" <<<"$out" || fail "mode message: $out"
rmdir "$EDGEFW_BPFFS"

# 4. The instance directory is a symlink (edgefw's directory is sound).
mkdir -m 0700 "$EDGEFW_BPFFS"
ln -s "$victim" "$pins"
out=$(load 2>&1) && fail "load through a symlinked instance directory succeeded"
grep -q "$pins is a symbolic link" <<<"$out" || fail "instance symlink message: $out"
out=$("$EDGEFW" unload --instance "$inst" 2>&1) && fail "unload through a symlinked instance succeeded"
canary_ok "after load/unload through a symlinked instance directory"
rm "$pins"
rmdir "$EDGEFW_BPFFS"

# 5. Sound: edgefw makes its directories root 0700, unload removes them.
load >/dev/null || fail "load on a clean bpffs failed"
[ "$(stat -c '%U %a %F' "$EDGEFW_BPFFS")" = "root 700 directory" ] || fail "edgefw dir: $(stat -c '%U %a %F' "$EDGEFW_BPFFS")"
[ "$(stat -c '%U %a' "$pins")" = "root 700" ] || fail "instance dir: $(stat -c '%U %a' "$pins")"
[ "$(stat -c '%U %a' "$EDGEFW_RUNDIR/$inst")" = "root 700" ] || fail "run dir: $(stat -c '%U %a' "$EDGEFW_RUNDIR/$inst")"
"$EDGEFW" unload --instance "$inst" >/dev/null
[ ! -e "$EDGEFW_BPFFS" ] || fail "edgefw's directory left after the last unload"
canary_ok "at the end"
echo "fs safety: symlinked edgefw dir, user-owned dir, mode 0755, symlinked instance dir: refused, canary intact"

# 6. Nothing mounted at /sys/fs/bpf: edgefw mounts bpffs (mode 0700) itself.
# A private mount and PID namespace: /proc/1 there is our shell, as on a host.
cat >"$tmp/selfmount.sh" <<INNER
set -eu
umount /sys/fs/bpf 2>/dev/null || true
unset EDGEFW_BPFFS
export EDGEFW_RUNDIR="$tmp/run2"
stat -f -c %T /sys/fs/bpf | grep -qv bpf || { echo "FAIL: bpffs still mounted"; exit 1; }
"$EDGEFW" load $PWD/policies/lync2010-edge-hlb.yaml --site $PWD/policies/site-test.yaml --node edge1 \
  --iface internal=n0 --netns "$ns" --instance "$inst" >/dev/null 2>"$tmp/selfmount.err"
grep -q "nothing was mounted at /sys/fs/bpf: mounted bpffs there (mode 0700)" "$tmp/selfmount.err" ||
  { echo "FAIL: no mount notice: \$(cat "$tmp/selfmount.err")"; exit 1; }
[ "\$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] || { echo "FAIL: /sys/fs/bpf is \$(stat -f -c %T /sys/fs/bpf)"; exit 1; }
grep ' /sys/fs/bpf ' /proc/self/mountinfo | grep -q 'mode=700' || { echo "FAIL: mount options: \$(grep ' /sys/fs/bpf ' /proc/self/mountinfo)"; exit 1; }
"$EDGEFW" status --instance "$inst" >/dev/null || { echo "FAIL: status after self-mount"; exit 1; }
"$EDGEFW" unload --instance "$inst" >/dev/null
"$EDGEFW" load $PWD/policies/lync2010-edge-hlb.yaml --site $PWD/policies/site-test.yaml --node edge1 \
  --iface internal=n0 --netns "$ns" --instance "$inst" >/dev/null 2>"$tmp/selfmount2.err"
[ ! -s "$tmp/selfmount2.err" ] || { echo "FAIL: mounted again: \$(cat "$tmp/selfmount2.err")"; exit 1; }
"$EDGEFW" unload --instance "$inst" >/dev/null
echo ok
INNER
out=$(unshare -m -p -f --mount-proc --propagation private sh "$tmp/selfmount.sh" 2>&1) || fail "self-mount: $out"
[ "$out" = ok ] || fail "self-mount: $out"
attached && fail "XDP left after the self-mount run"
echo "PASS: fs safety (symlinks, owners, modes refused with the canary intact; bpffs mounted 0700 when absent)"
