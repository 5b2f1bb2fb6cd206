#!/usr/bin/env bash
# The exporter's bounds (issue 18, item 5), against a loaded instance, all traffic to
# 127.0.0.1 (and one listen inside the test's own namespace):
#  1. one request with 60,000 header fields of 4 KB: refused (431 or closed), the
#     exporter's RSS and peak RSS grow by less than 20 MB; 101 fields or 9 KiB of
#     head (one 9.3 KB field): 431; 99 short fields: 200;
#  2. 200 slow clients (half silent, half trickling a byte every 0.5 s, reconnecting
#     when closed) for BOUNDS_SECS (6): every normal scrape of /metrics answers
#     within 1 s, and the exporter holds at most 64 of their connections open and
#     16 more being closed (88 more descriptors than before, with 8 to spare,
#     sampled between scrapes);
#  3. after they go, it still serves: same metric families, the instance up.
# Also: a warning on stderr when it listens on a non-loopback address, none on
# loopback. 77 (skip) when not root or without python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/monitor/lib.sh
. tests/lifecycle/lib.sh # two_hosts: the namespaces, their cleanup trap
SECS=${BOUNDS_SECS:-6}

require_root
require_cmd python3 jq
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$exporter/status"; }
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$exporter/status"; }
b=tests/monitor/bounds.py

two_hosts efbnd 198.18.155.30
# A bpffs of the test's own (pins and all), whatever state /sys/fs/bpf is in;
# the cleanup trap unmounts it.
bpffs_mount "$tmp/bpffs" 1777 || skip "cannot mount a bpffs"
export EDGEFW_BPFFS="$tmp/bpffs/edgefw"
"$EDGEFW" load policies/lync2010-edge-hlb.yaml --site policies/site-test.yaml --node edge1 \
  --iface external=n0 --netns "$ns_n" --instance "$inst" >/dev/null

start_exporter
grep -qx "edgefw_up{instance_name=\"$inst\"} 1" "$tmp/metrics0" || fail "instance not up"
grep -q "warning" "$tmp/exporter.log" && fail "a warning on loopback: $(cat "$tmp/exporter.log")"

# A non-loopback address (inside the test's namespace): a warning on stderr.
ip netns exec "$ns_n" "$EDGEFW" exporter --listen "198.18.155.30:$eport" --instance "$inst" \
  >"$tmp/exporter-ext.log" 2>&1 &
ext=$!
pids+=("$ext")
for _ in $(seq 50); do grep -q serving "$tmp/exporter-ext.log" && break; sleep 0.1; done
grep -q "warning: 198.18.155.30:$eport is not a loopback address" "$tmp/exporter-ext.log" ||
  fail "no warning for a non-loopback address"
kill "$ext"
echo "bounds: non-loopback listen warns, loopback does not"

# 1. Header limits and memory.
rss0=$(rss) hwm0=$(hwm)
out=$(timeout 60 python3 $b big-head "$eport" 60000 4096) || fail "big-head client failed"
rss1=$(rss) hwm1=$(hwm)
IFS=$'\t' read -r taken secs status <<<"$out"
case "$status" in *" 431 "* | none) ;; *) fail "60,000 headers of 4 KB: answered '$status'" ;; esac
grow=$(((rss1 - rss0) / 1024)) hgrow=$(((hwm1 - hwm0) / 1024))
echo "bounds: 60,000 x 4 KB headers: '$status' after $taken fields sent, ${secs} s; RSS ${rss0} -> ${rss1} kB (+${grow} MB), peak ${hwm0} -> ${hwm1} kB (+${hgrow} MB)"
[ $((rss1 - rss0)) -lt 20480 ] || fail "RSS grew by ${grow} MB"
[ $((hwm1 - hwm0)) -lt 20480 ] || fail "peak RSS grew by ${hgrow} MB"
for spec in "101 8" "1 9300"; do
  # shellcheck disable=SC2086 # SPEC is two arguments
  status=$(timeout 20 python3 $b big-head "$eport" $spec | cut -f3)
  case "$status" in *" 431 "*) ;; *) fail "head of $spec (fields, bytes): answered '$status'" ;; esac
done
status=$(timeout 20 python3 $b big-head "$eport" 99 8 | cut -f3)
case "$status" in *" 200 "*) ;; *) fail "99 short fields: answered '$status'" ;; esac
echo "bounds: 101 fields or 9.3 KB of head: 431; 99 fields: 200"

# 2. 200 slow clients while a scrape runs every 0.25 s.
slow=$(timeout $((SECS + 60)) python3 $b slow "$eport" 200 "$SECS" "$exporter") || fail "slow clients failed"
echo "bounds: 200 slow clients for ${SECS} s: $slow"
bad=$(json_get '[if .scrapes < 5 then "fewer than 5 scrapes" else empty end,
  if .failed > 0 then "\(.failed) scrapes failed" else empty end,
  if .max_s >= 1.0 then "slowest scrape \(.max_s) s" else empty end,
  (.exporter_fds_peak - .exporter_fds_before) as $d |
    if $d > 64 + 16 + 8 then "exporter held \($d) more descriptors" else empty end] | join("; ")' \
  <<<"$slow")
[ -z "$bad" ] || fail "scrapes under 200 slow clients: $bad"
rss2=$(rss) hwm2=$(hwm)

# 3. Afterwards: still serving, same families, the instance still up.
sleep 2.5 # the head deadline (2 s) ends whatever is left
for _ in 1 2 3 4 5; do
  out=$(python3 $b scrape "$eport")
  [ "$(cut -f2 <<<"$out")" = 200 ] || fail "scrape after the slow clients: $out"
done
http "http://127.0.0.1:$eport/metrics" >"$tmp/metrics1" || fail "no /metrics afterwards"
# Every family of the first scrape is still there (the link's own IPv6 traffic may
# have hit a rule meanwhile, which can add series).
missing=$(comm -23 <(grep '^# TYPE' "$tmp/metrics0" | sort) <(grep '^# TYPE' "$tmp/metrics1" | sort))
[ -z "$missing" ] || fail "families gone after the slow clients: $missing"
grep -qx "edgefw_up{instance_name=\"$inst\"} 1" "$tmp/metrics1" || fail "instance not up afterwards"
fds=$(find "/proc/$exporter/fd" -mindepth 1 | wc -l)
kill -0 "$exporter" || fail "exporter exited"
max=$(json_get '.max_s' <<<"$slow")
echo "PASS: exporter bounded: 60,000-header request refused (RSS +${grow} MB, peak +${hgrow} MB);" \
  "slowest scrape under 200 slow clients ${max} s (RSS ${rss2} kB, peak ${hwm2} kB after them);" \
  "afterwards serving, $fds descriptors"
