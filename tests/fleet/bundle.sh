#!/usr/bin/env bash
# edgefw bundle, load/reload --bundle and edgefw inventory, on one namespace
# (tests/lifecycle/lib.sh one_host, a private bpffs and run dir):
#  - a bundle per node; each file's sha256 as sha256sum(1) says, the policy
#    hash is `cat policy site | sha256sum`, image.json is `compile --json`,
#    selftest.json holds every probe; a second bundle run writes the same bytes;
#  - load --bundle: status --json keeps the bundle and both hashes;
#  - refused with "Nothing changed" and the instance as it was: another node's
#    bundle (load and reload), each file tampered with, an unlisted site.yaml,
#    a manifest naming another node, another edgefw's image hash, a kernel
#    below the manifest's minimum, a missing directory;
#  - inventory: valid for ansible-inventory when it is installed.
# 77 (skip) without root or python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
one_host effb
private_state
EDGEFW=$(realpath "$EDGEFW")
policy=$(realpath policies/lync2010-edge-hlb.yaml)
site=$(realpath policies/site-test.yaml)
out="$tmp/bundles"

"$EDGEFW" bundle "$policy" --site "$site" --out "$out" >"$tmp/bundle.out"
want_ph=$(cat "$policy" "$site" | sha256sum | cut -d' ' -f1)
grep -q "^policy hash $want_ph " "$tmp/bundle.out" || fail "bundle output: $(cat "$tmp/bundle.out")"
for n in edge1 edge2 rproxy; do
  d="$out/$n"
  m="$d/manifest.json"
  [ "$(jq -r .node "$m")" = "$n" ] || fail "$n: manifest node $(jq -r .node "$m")"
  [ "$(jq -r .policy_hash "$m")" = "$want_ph" ] || fail "$n: policy hash"
  [ "$(jq -r .min_kernel "$m")" = 6.1 ] || fail "$n: min_kernel"
  [ "$(jq -r .edgefw_version "$m")" != null ] || fail "$n: no edgefw_version"
  for f in policy.yaml site.yaml image.json selftest.json; do
    [ "$(jq -r --arg f "$f" '.files[$f]' "$m")" = "$(sha256sum "$d/$f" | cut -d' ' -f1)" ] || fail "$n: sha256 of $f"
  done
  cmp -s "$d/policy.yaml" "$policy" && cmp -s "$d/site.yaml" "$site" || fail "$n: policy or site bytes differ"
  "$EDGEFW" compile "$policy" --site "$site" --node "$n" --json >"$tmp/compile-$n.json"
  jq -S . "$tmp/compile-$n.json" >"$tmp/a.json"
  jq -S . "$d/image.json" >"$tmp/b.json"
  cmp -s "$tmp/a.json" "$tmp/b.json" || fail "$n: image.json is not 'edgefw compile --json'"
  [ "$(jq -r .image_hash "$m")" = "$(jq -r .hash "$d/image.json")" ] || fail "$n: image hash"
  probes=$(jq '.probes | length' "$d/selftest.json")
  [ "$probes" -gt 0 ] && [ "$probes" = "$(jq .self_test.probes "$m")" ] || fail "$n: selftest.json has $probes probes"
  [ "$(jq '[.probes[] | select(.ok != true or .model != .kernel)] | length' "$d/selftest.json")" = 0 ] ||
    fail "$n: a probe disagrees in selftest.json"
  cp "$m" "$tmp/manifest-$n.json"
done
echo "bundle: 3 nodes, hashes as sha256sum, image = compile --json, $(jq '.probes | length' "$out/edge1/selftest.json") probes on edge1"
"$EDGEFW" bundle "$policy" --site "$site" --out "$out" >/dev/null
for n in edge1 edge2 rproxy; do
  cmp -s "$out/$n/manifest.json" "$tmp/manifest-$n.json" || fail "$n: a second bundle run wrote another manifest"
done

# ---- load and the refusals
before() { "$EDGEFW" status --instance "$inst" --json | jq -c '.[0] | {policy_hash, policy_sha256, generation, prog_xdp_id, bundle}'; }
args=(--iface external=n0 --iface internal=n1 --netns "$ns" --instance "$inst")
# refused NAME WANT CMD...: exit 1, WANT in the message, "Nothing changed", the instance as it was.
refused() {
  local name=$1 want=$2 was now
  shift 2
  was=$(before 2>/dev/null || true)
  if "$@" >"$tmp/out" 2>&1; then fail "$name: accepted"; fi
  grep -qF -- "$want" "$tmp/out" || fail "$name: expected '$want', got: $(cat "$tmp/out")"
  grep -q "Nothing changed" "$tmp/out" || fail "$name: no 'Nothing changed': $(cat "$tmp/out")"
  now=$(before 2>/dev/null || true)
  [ "$now" = "$was" ] || fail "$name: the instance changed: $was -> $now"
  echo "refused ($name): $(head -c 160 "$tmp/out" | tr '\n' ' ')"
}
refused "load, another node" "is for node edge2, not edge1" "$EDGEFW" load --bundle "$out/edge2" --node edge1 "${args[@]}"
{ "$EDGEFW" status --instance "$inst" --json || true; } | jq -e 'length == 0' >/dev/null || fail "loaded after a refused load"
"$EDGEFW" load --bundle "$out/edge1" --node edge1 "${args[@]}" >/dev/null
s=$("$EDGEFW" status --instance "$inst" --json | jq -c '.[0]')
[ "$(jq -r .policy_sha256 <<<"$s")" = "$want_ph" ] || fail "status: policy_sha256 $(jq -r .policy_sha256 <<<"$s")"
[ "$(jq -r .policy_hash <<<"$s")" = "$(jq -r .image_hash "$out/edge1/manifest.json")" ] || fail "status: image hash"
[ "$(jq -r .bundle.pool <<<"$s")" = edge ] && [ "$(jq -r .bundle.dir <<<"$s")" = "$out/edge1" ] || fail "status: bundle $(jq -c .bundle <<<"$s")"
echo "load --bundle: enforcing, policy_sha256 and image hash as the manifest, bundle.pool edge"

refused "reload, another node" "is for node rproxy, not edge1" "$EDGEFW" reload --bundle "$out/rproxy" --instance "$inst"
mk() { rm -rf "$tmp/t"; mkdir -p "$tmp/t"; cp -r "$out/edge1" "$tmp/t/"; }
for f in policy.yaml site.yaml image.json selftest.json; do
  mk
  printf '\n' >>"$tmp/t/edge1/$f"
  refused "tampered $f" "$f does not match its manifest" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
done
mk
jq 'del(.files["site.yaml"])' "$out/edge1/manifest.json" >"$tmp/t/edge1/manifest.json"
refused "unlisted site.yaml" "site.yaml is there but the manifest lists none" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
mk
jq '.node = "edge2"' "$out/edge1/manifest.json" >"$tmp/t/edge1/manifest.json"
refused "manifest of another node" "but its manifest is for node edge2" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
mk
jq '.image_hash = "0123456789abcdef" | .edgefw_version = "9.9"' "$out/edge1/manifest.json" >"$tmp/t/edge1/manifest.json"
refused "another edgefw's image" "compiles it into image" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
mk
jq '.min_kernel = "99.0"' "$out/edge1/manifest.json" >"$tmp/t/edge1/manifest.json"
refused "kernel too old" "needs Linux 99.0 or later" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
mk
printf '{not json' >"$tmp/t/edge1/manifest.json"
refused "broken manifest" "manifest.json is not valid JSON" "$EDGEFW" reload --bundle "$tmp/t/edge1" --instance "$inst"
refused "missing directory" "no such directory" "$EDGEFW" reload --bundle "$tmp/none/edge1" --instance "$inst"
"$EDGEFW" reload --bundle "$out/edge1/" --instance "$inst" >/dev/null
[ "$("$EDGEFW" status --instance "$inst" --json | jq -r '.[0].generation')" = 2 ] || fail "reload --bundle did not reload"
"$EDGEFW" unload --instance "$inst" >/dev/null

# ---- inventory
"$EDGEFW" inventory "$policy" --site "$site" >"$tmp/inventory.yml"
for pair in edge1=198.19.33.10 edge2=198.19.33.11 rproxy=198.19.33.40; do
  python3 - "$tmp/inventory.yml" "${pair%=*}" "${pair#*=}" <<'PY' || fail "inventory: ${pair}"
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
pools = inv["all"]["children"]["edgefw"]["children"]
hosts = {h: v for p in pools.values() for h, v in p["hosts"].items()}
assert hosts[sys.argv[2]]["ansible_host"] == sys.argv[3], hosts
assert set(pools["pool_edge"]["hosts"]) == {"edge1", "edge2"}, pools
PY
done
if command -v ansible-inventory >/dev/null; then
  ANSIBLE_HOME="$tmp/ansible" ansible-inventory -i "$tmp/inventory.yml" --list >"$tmp/inv.json" 2>"$tmp/inv.err" ||
    fail "ansible-inventory: $(cat "$tmp/inv.err")"
  [ "$(jq -r '._meta.hostvars.edge2.ansible_host' "$tmp/inv.json")" = 198.19.33.11 ] || fail "ansible-inventory: edge2"
  [ "$(jq -c '.pool_edge.hosts' "$tmp/inv.json")" = '["edge1","edge2"]' ] || fail "ansible-inventory: pool_edge"
  echo "inventory: ansible-inventory reads it (pool_edge: edge1 edge2; pool_rproxy: rproxy)"
fi
echo "PASS: bundle, load/reload --bundle refusals, inventory"
