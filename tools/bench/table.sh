#!/usr/bin/env bash
# Renders build/bench/results.json (make bench, one or more runs) as the
# README's markdown tables: per-packet cost, memory and compile/reload, the
# bench issue's targets, and the wire. Every number is the first run's; the
# spread column is the min-max over all runs (BENCH_RUNS; one run: min = max).
# Usage: tools/bench/table.sh [results.json]   (make bench-table)
set -euo pipefail
json=${1:-build/bench/results.json}
[ -r "$json" ] || { echo "bench-table: no $json; run make bench first" >&2; exit 1; }
jq -r '
  def fixed($d): (if . < 0 then "-" else "" end) as $sign
    | (if . < 0 then -. else . end) as $x
    | if $d == 0 then $sign + ($x | round | tostring)
      else (pow(10; $d)) as $m | ($x * $m | round) as $n
        | ($n % $m | tostring) as $frac
        | $sign + (($n - ($n % $m)) / $m | tostring) + "."
          + ("0" * ($d - ($frac | length))) + $frac
      end;
  def thousands: tostring | [match("\\d+?(?=(\\d{3})*$)"; "g").string] | join(",");
  def mib: . / 1048576 | fixed(2) + " MiB";
  def spread($k; $d): (.spread[$k] // null) as $s
    | if $s == null or $s.min == null then "" else ($s.min | fixed($d)) + "–" + ($s.max | fixed($d)) end;
  def spread_mib($k): (.spread[$k] // null) as $s
    | if $s == null or $s.min == null then "" else ($s.min / 1048576 | fixed(2)) + "–"
      + ($s.max / 1048576 | fixed(2)) end;
  . as $r
  | ($r.floor_ns) as $floor | ($r.oracle_ns) as $oracle
  | (.bench_runs // 1) as $n
  | "One `make bench` run on \($r.machine.cpus) CPUs, Linux \($r.machine.kernel), "
    + "\($r.machine.date[0:10]); spread = min–max of \($n) run\(if $n > 1 then "s" else "" end). "
    + "\"x oracle-net\" is the issue'"'"'s overhead ratio, (ns − floor) / (oracle − floor).",
    "",
    "| case | ns/pkt | spread | x floor | x oracle | x oracle-net | what |",
    "|---|---:|---:|---:|---:|---:|---|",
    ($r.rows[] | .key as $k | ($r[$k + "_ns"]) as $ns
     | if ($k | startswith("ct_create")) or ($k | startswith("shadow_extra")) then
         "| \($k)_ns | \($ns | fixed(0)) | \($r | spread($k + "_ns"; 0)) | | | \($ns / ($oracle - $floor) | fixed(2)) | \(.what) |"
       else
         "| \($k)_ns | \($ns | fixed(0)) | \($r | spread($k + "_ns"; 0)) | \($ns / $floor | fixed(2)) | \($ns / $oracle | fixed(2)) | \(($ns - $floor) / ($oracle - $floor) | fixed(2)) | \(.what) |"
       end),
    "",
    "| memory and time | value | spread | how |",
    "|---|---:|---:|---|",
    "| map_bytes_ref | \($r.map_bytes_ref | mib) | \($r | spread_mib("map_bytes_ref")) | every map of the loaded data plane, reference policy (edge1); policy maps \($r.map_bytes_policy_ref | mib) |",
    "| map_bytes_10000 | \($r.map_bytes_10000 | mib) | \($r | spread_mib("map_bytes_10000")) | the same, 10,000-rule synthetic policy; policy maps \($r.map_bytes_policy_10000 | mib) |",
    "| compile_10000_ms | \($r.compile_10000_ms | fixed(0)) | \($r | spread("compile_10000_ms"; 0)) | parse + compile of 10,000 rules in-process, median of \($r.settings.runs) (parse \($r.compile_10000_parse_ms | fixed(0)) ms) |",
    (if $r.reload_10000_ms then
      "| reload_10000_ms | \($r.reload_10000_ms.median | fixed(0)) | \($r | spread("reload_10000_ms.median"; 0)) | whole `edgefw reload` of 10,000 rules, median of 5; `edgefw compile` alone \($r.reload_10000_ms.compile_ms) ms |"
     else empty end),
    "",
    "| target | measured | spread | |",
    "|---|---:|---:|---|",
    ($r.targets[] | (if .cmp == "<=" then "≤" elif .cmp == ">=" then "≥" else .cmp end) as $c
     | (if (.limit | fabs) >= 100 then 0 else 2 end) as $d
     | "| \(.what) \($c) \(.limit | if $d == 0 then fixed(0) else fixed(2) end) | \(.value | fixed($d)) | "
       + (if .min == null then "" else (.min | fixed($d)) + "–" + (.max | fixed($d)) end)
       + " | \(if .met then "met" else "not met" end) |"),
    (if $r.edgefw_pps then
      "",
      "| wire (veth, one trafgen core) | dropped / passed pps | offered pps | cpu ns/pkt | spread | edgefw bpf_stats ns |",
      "|---|---:|---:|---:|---:|---:|",
      ("edgefw", "nft", "iptables", "none" | . as $f
       | "| \($f), 1 flow, dropped | \($r[$f + "_pps"] | fixed(0) | thousands) | \($r["offered_pps_" + $f] | fixed(0) | thousands) | \($r["cpu_ns_" + $f] | fixed(0)) | \($r | spread("cpu_ns_" + $f; 0)) | \(if $f == "edgefw" then $r.edgefw_stats_ns | fixed(1) else "" end) |"),
      (if $r.multiflow_pps then
        "| edgefw, 1,000 RTP flows, passed | \($r.multiflow_pps | fixed(0) | thousands) | \($r.offered_pps_multiflow | fixed(0) | thousands) | \($r.cpu_ns_multiflow | fixed(0)) | \($r | spread("cpu_ns_multiflow"; 0)) | \($r.multiflow_stats_ns | fixed(1)) |"
       else empty end),
      "",
      "sender_limited: \($r.sender_limited); cpu ns/pkt at a fixed \($r.settings.fixed_pps | thousands) pps offered."
     else empty end)
' "$json"
