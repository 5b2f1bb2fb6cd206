#!/usr/bin/env bash
# Merges the JSON of one or more whole bench runs (tools/bench/run.sh, BENCH_RUNS)
# into one: the first run's numbers as they are, and under "spread" each number's
# min, max and per-run values (key = its path, e.g. "cpu_ns_edgefw",
# "reload_10000_ms.median", "overhead_ratio.conntrack"); each target also gets
# min, max and values. Samples, settings, notes and per-map bytes stay run 1's.
# Usage: tools/bench/merge.sh RUN1.json [RUN2.json...] > results.json
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: merge.sh RUN.json..." >&2; exit 2; }
jq -s '
  def numbers_by_path:
    [paths(numbers) as $p
     | select(all($p[]; type == "string"))
     | select($p[0] | IN("samples_ns", "samples_values", "settings", "map_bytes_per_map",
                          "floor_ratio", "oracle_ratio") | not)
     | {key: ($p | join(".")), value: getpath($p)}]
    | from_entries;
  def range_of(v): (v | map(select(. != null))) as $v
    | {min: ($v | min), max: ($v | max), values: v};
  . as $runs
  | ($runs | map(numbers_by_path)) as $flat
  | $runs[0]
  | .bench_runs = ($runs | length)
  | .spread = ($flat[0] | keys_unsorted
               | map(. as $k | {key: $k, value: range_of([$flat[][$k]])}) | from_entries)
  | .targets = [.targets | to_entries[] | .key as $i
                | .value + range_of([$runs[].targets[$i].value])]
' "$@"
