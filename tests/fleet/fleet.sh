#!/usr/bin/env bash
# make fleet-test: edge1, edge2 and rproxy of the e2e topology (tests/e2e/lib.sh),
# each a "host" of its own: its network namespace with both NICs, a mount
# namespace with its own bpffs, /run and /usr/local/sbin, an OpenSSH server on
# its internal address and an edgefw exporter. ansible-playbook runs
# tools/ansible/rollout.yml from the root namespace over real SSH through the
# management network 198.19.200.0/24 (a veth from the root namespace into corp),
# which the site file's management entry admits on each internal NIC.
# Prometheus, in the root namespace, scrapes the three exporters the same way.
#
#   setup  a first rollout (v1) loads edgefw on all three
#   1      v2 rolls out to all three; a 1 kpps UDP stream through edge1 loses
#          nothing; Prometheus returns each node's new hashes
#   4      the same playbook again: changed=0 everywhere (and --check reports
#          what v4 would change without changing it)
#   bad    a bundle of another node, a tampered bundle, an unreachable host
#   2      v3 would lock out management SSH: refused on the canary, play stops
#   3      v4 passes on edge1, edge2's health gate fails (its exporter is down):
#          edge2 rolls back by itself, rproxy is untouched, the drift alert fires
#
# Skips (77) without root, namespaces, ansible, sshd or Prometheus. FLEET_CONFIRM
# sets the confirm window (default 30 s: the canary's gate must pass within it); FLEET_LOGS=DIR keeps the playbook
# output of every run there.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
EDGEFW=$REPO/build/edgefw
CONFIRM=${FLEET_CONFIRM:-30}
T0=$(date +%s)
NODES=(edge1 edge2 rproxy)
declare -A MGMT=([edge1]=198.19.33.10 [edge2]=198.19.33.11 [rproxy]=198.19.33.40)
CTL=198.19.200.1 CORP_MGMT=198.19.200.254
INST=fleet

e2e_init fleet
require_cmd ansible-playbook ssh ssh-keygen nsenter prometheus promtool python3 curl
[ -x /usr/sbin/sshd ] || skip "missing /usr/sbin/sshd (Debian package openssh-server)"
MG_IF="efm$$"
MG_IF=${MG_IF:0:15}
declare -A SSHD EXPORTER

fleet_cleanup() {
  local rc=$?
  set +e
  [ -z "${PLAY_PID:-}" ] || kill -TERM -- "-$PLAY_PID" 2>/dev/null
  [ -z "${FLEET_LOGS:-}" ] || { mkdir -p "$FLEET_LOGS" && cp "$WORK"/play-*.log "$FLEET_LOGS"/; }
  # Ansible's SSH masters (ControlPersist) outlive the play.
  for s in "$WORK"/ansible/cp/*; do
    [ -S "$s" ] && ssh -o ControlPath="$s" -O exit fleet >/dev/null 2>&1
  done
  ip link del "$MG_IF" 2>/dev/null
  (exit "$rc")
  e2e_cleanup
}
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  local f
  for f in "$WORK"/play-*.log; do
    [ -e "$f" ] && { echo "--- $(basename "$f") (tail)" >&2; tail -n 25 "$f" >&2; }
  done
  exit 1
}
ok() { printf '  ok    %s\n' "$*"; }
elapsed() { echo $(($(date +%s) - T0)); }

# ---------------------------------------------------------------- topology and hosts

topo_build
# The management network: the root namespace (Ansible, Prometheus) at .1, corp at .254.
ip link add "$MG_IF" type veth peer name mg0 netns "$(ns corp)"
ip addr add $CTL/24 dev "$MG_IF"
ip link set "$MG_IF" up
addr corp mg0 $CORP_MGMT/24
ip -n "$(ns corp)" link set mg0 up
ip route add 198.19.33.0/24 via $CORP_MGMT dev "$MG_IF"
for n in "${NODES[@]}"; do
  ip -n "$(ns "$n")" route add 198.19.200.0/24 via $CORP_PERIM
done

mkdir -p "$WORK/ssh" "$WORK/ansible"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/id" -C "edgefw fleet-test"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host"
cp "$WORK/ssh/id.pub" "$WORK/ssh/authorized_keys"
cat >"$WORK/ssh/sshd_config" <<EOF
Port 22
HostKey $WORK/ssh/host
AuthorizedKeysFile $WORK/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The keys live under /tmp, which is world-writable.
StrictModes no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
EOF
SSH_OPTS=(-F /dev/null -i "$WORK/ssh/id" -o IdentitiesOnly=yes -o BatchMode=yes
  -o UserKnownHostsFile="$WORK/ssh/known_hosts" -o StrictHostKeyChecking=no -o ConnectTimeout=5
  -o LogLevel=ERROR)
node_ssh() { local n=$1; shift; ssh "${SSH_OPTS[@]}" "root@${MGMT[$n]}" "$@"; }

# A node as its own host: bpffs, /run and /usr/local/sbin of its own (mount
# namespace of `ip netns exec`, kept by sshd); its SSH sessions share them.
for n in "${NODES[@]}"; do
  mkdir -p "$WORK/hosts/$n/sbin"
  bg "sshd-$n" "$n" sh -c 'set -e
    mount -t bpf -o mode=0700 bpf /sys/fs/bpf
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p /run/sshd
    mount --bind "$1" /usr/local/sbin
    exec /usr/sbin/sshd -D -e -f "$2" -o ListenAddress="$3"' sh \
    "$WORK/hosts/$n/sbin" "$WORK/ssh/sshd_config" "${MGMT[$n]}"
  SSHD[$n]=${E2E_PIDS[-1]}
done
node_exec() { local n=$1; shift; nsenter -t "${SSHD[$n]}" -m -n -- "$@"; }
start_exporter() {
  bg "exporter-$1" "$1" nsenter -t "${SSHD[$1]}" -m -- "$EDGEFW" exporter \
    --listen "${MGMT[$1]}:9839" --instance $INST
  EXPORTER[$1]=${E2E_PIDS[-1]}
}
for n in "${NODES[@]}"; do
  wait_listen "$n" tcp "${MGMT[$n]}" 22 || fail "sshd on $n does not listen (log: $(cat "$WORK/sshd-$n.log"))"
  start_exporter "$n"
done

# ---------------------------------------------------------------- policies and bundles

# v1: the test site file, the management entry also admitting the exporter port.
sed 's/{src: 198.19.200.0\/24, proto: tcp, dport: 22}/{src: 198.19.200.0\/24, proto: tcp, dport: [22, 9839]}/' \
  "$SITE" >"$WORK/site-v1.yaml"
grep -q 'dport: \[22, 9839\]' "$WORK/site-v1.yaml" || fail "site-v1: management entry not found in $SITE"
# v2: a good new policy: CRL download off (edge1, edge2), mobility autodiscover off (rproxy).
{ cat "$WORK/site-v1.yaml"; printf 'features:\n  crl-download: false\n  mobility-autodiscover: false\n'; } >"$WORK/site-v2.yaml"
# v3: SSH dropped from the management entry: it would lock Ansible out.
sed 's/dport: \[22, 9839\]/dport: 9839/' "$WORK/site-v2.yaml" >"$WORK/site-v3.yaml"
# v4: another good one: external DNS off as well.
{ cat "$WORK/site-v2.yaml"; printf '  dns: false\n'; } >"$WORK/site-v4.yaml"
declare -A PH
for v in v1 v2 v3 v4; do
  "$EDGEFW" bundle "$POLICY" --site "$WORK/site-$v.yaml" --out "$WORK/bundles-$v" >"$WORK/bundle-$v.log" ||
    fail "edgefw bundle $v: $(cat "$WORK/bundle-$v.log")"
  PH[$v]=$(jq -r .policy_hash "$WORK/bundles-$v/edge1/manifest.json")
done
image_of() { jq -r .image_hash "$WORK/bundles-$1/$2/manifest.json"; }
log "== bundles: policy hash v1 ${PH[v1]:0:12} v2 ${PH[v2]:0:12} v3 ${PH[v3]:0:12} v4 ${PH[v4]:0:12}"

"$EDGEFW" inventory "$POLICY" --site "$WORK/site-v1.yaml" >"$WORK/inventory.yml"
for n in "${NODES[@]}"; do
  grep -q "ansible_host: ${MGMT[$n]}" "$WORK/inventory.yml" || fail "inventory: no ansible_host ${MGMT[$n]} for $n"
done
# What the role installs: the build without its debug info (as the .deb has it).
objcopy --strip-debug "$EDGEFW" "$WORK/edgefw"
cat >"$WORK/vars.yml" <<EOF
ansible_user: root
ansible_ssh_private_key_file: $WORK/ssh/id
ansible_python_interpreter: /usr/bin/python3
# The nodes share this machine's file system and dpkg database: the binary is
# copied to each node's own /usr/local/sbin (a bind mount per node) instead of
# installing the .deb three times into one dpkg database.
edgefw_install: binary
edgefw_binary_src: $WORK/edgefw
edgefw_bin: /usr/local/sbin/edgefw
edgefw_bundle_dir: /run/edgefw-bundles
edgefw_instance: $INST
edgefw_ifaces: {external: ext0, internal: int0}
edgefw_confirm_seconds: $CONFIRM
edgefw_exporter_url: "http://{{ ansible_host }}:9839/metrics"
edgefw_manage_services: false
EOF
export ANSIBLE_HOME="$WORK/ansible" ANSIBLE_LOCAL_TEMP="$WORK/ansible/tmp" \
  ANSIBLE_REMOTE_TMP="$WORK/ansible/remote" ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/ansible/cp" ANSIBLE_ASYNC_DIR="$WORK/ansible/async" \
  ANSIBLE_PIPELINING=True ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_NOCOLOR=1 \
  ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_ROLES_PATH="$REPO/tools/ansible/roles" \
  ANSIBLE_SSH_ARGS="-F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=$WORK/ssh/known_hosts -o StrictHostKeyChecking=no -o ConnectTimeout=5"
unset SSH_CONNECTION SSH_CLIENT

# play NAME BUNDLES [INVENTORY] [ARGS...]: the rollout; its recap in $WORK/recap-NAME; rc in $PLAY_RC.
play() {
  local name=$1 bundles=$2 inv=${3:-$WORK/inventory.yml} t
  shift 3 || shift $#
  t=$(date +%s)
  PLAY_RC=0
  # Its own process group, so the trap can end it and its workers.
  setsid ansible-playbook -i "$inv" "$REPO/tools/ansible/rollout.yml" -e "@$WORK/vars.yml" \
    -e "edgefw_bundle_src=$WORK/$bundles" "$@" >"$WORK/play-$name.log" 2>&1 &
  PLAY_PID=$!
  wait "$PLAY_PID" || PLAY_RC=$?
  PLAY_PID=
  sed -n '/^PLAY RECAP/,/^$/p' "$WORK/play-$name.log" | grep ' : ' >"$WORK/recap-$name" || true
  PLAY_SECS=$(($(date +%s) - t))
  log "   ansible-playbook rollout.yml ($bundles$([ $# -gt 0 ] && printf ' %s' "$@")): rc $PLAY_RC, ${PLAY_SECS} s"
  sed 's/^/     /; s/  */ /g' "$WORK/recap-$name"
}
# recap NAME HOST FIELD: a number from the play recap; "-" when the host was not reached.
recap() {
  local line
  line=$(grep "^$2 " "$WORK/recap-$1" || true)
  [ -n "$line" ] || { echo -; return; }
  sed -n "s/.*$3=\([0-9]*\).*/\1/p" <<<"$line"
}
status_of() { node_exec "$1" "$EDGEFW" status --instance $INST --json 2>/dev/null | jq -c '.[0] // {}'; }
sha_of() { status_of "$1" | jq -r '.policy_sha256 // "none"'; }
expect_runs() { # NODE VERSION: enforcing, both hashes of that version's bundle, nothing pending
  local s
  s=$(status_of "$1")
  [ "$(jq -r .state <<<"$s")" = enforcing ] || fail "$1: state $(jq -r .state <<<"$s"), expected enforcing"
  [ "$(jq -r .policy_sha256 <<<"$s")" = "${PH[$2]}" ] || fail "$1: policy hash $(jq -r .policy_sha256 <<<"$s"), expected $2's ${PH[$2]}"
  [ "$(jq -r .policy_hash <<<"$s")" = "$(image_of "$2" "$1")" ] || fail "$1: image $(jq -r .policy_hash <<<"$s"), expected $2's $(image_of "$2" "$1")"
}

# Prometheus: the three exporters over the management network, a `node` and a
# `pool` label each (tools/prometheus/fleet-scrape.yml), and the drift rule with
# its `for:` shortened so the test need not wait 15 minutes.
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed 's/^\(\s*for:\).*/\1 0s/' tools/prometheus/edgefw-fleet-alerts.yml >"$WORK/fleet-alerts.yml"
{
  printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\n' "$WORK/fleet-alerts.yml"
  printf 'scrape_configs:\n  - job_name: edgefw\n    honor_labels: true\n    static_configs:\n'
  for n in "${NODES[@]}"; do
    pool=$([ "$n" = rproxy ] && echo rproxy || echo edge)
    printf "      - targets: ['%s:9839']\n        labels: {node: %s, pool: %s}\n" "${MGMT[$n]}" "$n" "$pool"
  done
} >"$WORK/prometheus.yml"
promtool check config "$WORK/prometheus.yml" >/dev/null || fail "promtool check config"
setsid prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
E2E_PIDS+=($!)
disown $!
# query EXPR: "labelset=value" lines of an instant query.
query() {
  curl -s --max-time 3 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    jq -r '.data.result[]? | "\(.metric.node // "")=\(.value[1])"' 2>/dev/null || true
}
# wait_query EXPR WANT [SECS]: until the query's lines, joined, equal WANT.
wait_query() {
  local got="" i
  for ((i = 0; i < ${3:-30} * 5; i++)); do
    got=$(query "$1" | sort | paste -sd' ')
    [ "$got" = "$2" ] && return 0
    sleep 0.2
  done
  fail "Prometheus: $1 = '$got', expected '$2'"
}

log "== setup: topology, sshd + exporter on edge1 edge2 rproxy, Prometheus ($(elapsed) s)"
if [ -n "${FLEET_PAUSE:-}" ]; then  # debugging: look around, then touch $WORK/continue
  log "paused: WORK=$WORK sshd pids ${SSHD[*]}; touch $WORK/continue to go on"
  while [ ! -e "$WORK/continue" ]; do sleep 1; done
fi

# ---------------------------------------------------------------- setup: first rollout (load)

play setup bundles-v1
[ "$PLAY_RC" = 0 ] || fail "first rollout (load) failed"
for n in "${NODES[@]}"; do expect_runs "$n" v1; done
ok "v1 loaded on edge1 edge2 rproxy by the playbook (load --bundle --confirm, gate, confirm)"

# ---------------------------------------------------------------- 1: a good new policy

log "== scenario 1: v2 rolls out to all three under a 1 kpps UDP stream through edge1 ($(elapsed) s)"
# The sink's receive buffer is large (SO_RCVBUFFORCE, 16 MiB): on a busy machine a
# default one overflows while Python waits for the CPU, which is not edgefw's loss.
bg sink edge1 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
s.bind((sys.argv[1], 3478))
open(sys.argv[2] + ".ready", "w").close()
seen = set()
while True:
    d, _ = s.recvfrom(64)
    if d == b"END":
        break
    seen.add(int(d))
open(sys.argv[2], "w").write(str(len(seen)))
' $VIP_AV "$WORK/udp"
rule_packets() { node_exec edge1 "$EDGEFW" stats --instance $INST --json | jq '.rules[] | select(.id == "ext-vip-av-stun-udp") | .packets'; }
c0=$(rule_packets)
node_exec edge1 "$EDGEFW" stats --instance $INST --json >"$WORK/stats0.json"
for _ in $(seq 50); do [ -e "$WORK/udp.ready" ] && break; sleep 0.1; done
bg stream inet python3 -c '
import os, socket, sys, time
dst, stop, out = (sys.argv[1], 3478), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[4], 0))
sent, t = 0, time.monotonic()
while not os.path.exists(stop):
    s.sendto(str(sent).encode(), dst)
    sent += 1
    t += 0.001  # 1 kpps
    time.sleep(max(0.0, t - time.monotonic()))
time.sleep(0.3)
for _ in range(5):
    s.sendto(b"END", dst)
    time.sleep(0.05)
open(out, "w").write(str(sent))  # after the ENDs: the counters are final then
' $VIP_AV "$WORK/stop" "$WORK/sent" $INET_MEDIA
sleep 1
play s1 bundles-v2
touch "$WORK/stop"
for _ in $(seq 100); do [ -s "$WORK/udp" ] && [ -s "$WORK/sent" ] && break; sleep 0.1; done
sent=$(cat "$WORK/sent" 2>/dev/null || echo 0) received=$(cat "$WORK/udp" 2>/dev/null || echo 0)
counted=$(($(rule_packets) - c0 - 5))  # the 5 END datagrams count too
rcvbuf=$(node_exec edge1 awk '/^Udp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) h[i] = $i; else for (i = 1; i <= NF; i++) if (h[i] == "RcvbufErrors") print $i }' /proc/net/snmp)
[ "$PLAY_RC" = 0 ] || fail "scenario 1: rollout of v2 failed"
for n in "${NODES[@]}"; do
  expect_runs "$n" v2
  [ "$(recap s1 "$n" changed)" -ge 2 ] || fail "scenario 1: $n changed=$(recap s1 "$n" changed)"
done
ok "edge1 edge2 rproxy run v2: policy hash ${PH[v2]:0:16}, images $(for n in "${NODES[@]}"; do printf '%s=%s ' "$n" "$(image_of v2 "$n")"; done)"
[ "$sent" -gt 1000 ] || fail "scenario 1: the stream sent only $sent datagrams"
[ "$received" = "$sent" ] || fail "scenario 1: UDP stream through edge1: sent $sent, received $received (lost $((sent - received))); edgefw's rule counted $counted, the socket's receive buffer overflowed $rcvbuf times"
if [ "$counted" != "$sent" ]; then
  node_exec edge1 "$EDGEFW" stats --instance $INST --json >"$WORK/stats1.json"
  moved=$(jq -rn --slurpfile a "$WORK/stats0.json" --slurpfile b "$WORK/stats1.json" '
    [($b[0].rules[] | {k: .id, v: .packets}), ($b[0].reasons[] | {k: .name, v: .packets})] as $after
    | [($a[0].rules[] | {k: .id, v: .packets}), ($a[0].reasons[] | {k: .name, v: .packets})] as $before
    | [$after[] | . as $x | ($before | map(select(.k == $x.k)) | .[0].v // 0) as $v0
       | select($x.v != $v0) | "\($x.k) +\($x.v - $v0)"] | join(", ")')
  fail "scenario 1: ext-vip-av-stun-udp counted $counted of $sent datagrams across the reload; counter deltas on edge1: $moved"
fi
ok "UDP stream 198.18.1.30 -> A/V VIP:3478 through edge1 during the rollout: sent $sent, received $received, lost 0; ext-vip-av-stun-udp counted $counted across the reload"
want=$(for n in "${NODES[@]}"; do printf '%s=1 ' "$n"; done)
wait_query "edgefw_policy_source_info{sha256=\"${PH[v2]}\"}" "${want% }"
for n in "${NODES[@]}"; do
  wait_query "edgefw_policy_info{node=\"$n\",hash=\"$(image_of v2 "$n")\"}" "$n=1"
done
query 'edgefw_policy_info' | sort >"$WORK/prom-hashes"
ok "Prometheus: edgefw_policy_source_info sha256=${PH[v2]:0:16}... on all three, edgefw_policy_info each node's new image hash"
S1_SENT=$sent S1_SECS=$PLAY_SECS
cp "$WORK/play-s1.log" "$WORK/scenario1.out"

# ---------------------------------------------------------------- 4: idempotence, check mode

log "== scenario 4: the same playbook again ($(elapsed) s)"
play s4 bundles-v2
[ "$PLAY_RC" = 0 ] || fail "scenario 4: second run failed"
for n in "${NODES[@]}"; do
  [ "$(recap s4 "$n" changed)" = 0 ] || fail "scenario 4: $n changed=$(recap s4 "$n" changed) on the second run"
  expect_runs "$n" v2
done
ok "second run: changed=0 on edge1 edge2 rproxy"
play check bundles-v4 "" --check --limit edge1
[ "$PLAY_RC" = 0 ] || fail "check mode run failed"
[ "$(recap check edge1 changed)" -ge 1 ] || fail "check mode: edge1 reports nothing to change for v4"
grep -q "would reload edge1: image $(image_of v2 edge1) -> $(image_of v4 edge1)" "$WORK/play-check.log" ||
  fail "check mode: no 'would reload' line for edge1"
for n in "${NODES[@]}"; do expect_runs "$n" v2; done
ok "--check --limit edge1 with v4: 'would reload edge1: image $(image_of v2 edge1) -> $(image_of v4 edge1)', changed=$(recap check edge1 changed), edge1 still runs v2"

# ---------------------------------------------------------------- bad input

log "== bad input ($(elapsed) s)"
before=$(status_of edge1 | jq -c '{policy_hash, policy_sha256, generation, prog_xdp_id}')
if node_ssh edge1 /usr/local/sbin/edgefw reload --bundle "$WORK/bundles-v4/edge2" --instance $INST >"$WORK/bad1.out" 2>&1; then
  fail "edge1 took edge2's bundle"
fi
grep -q "is for node edge2, not edge1" "$WORK/bad1.out" || fail "bundle of another node: $(cat "$WORK/bad1.out")"
ok "edge2's bundle on edge1: $(sed 's/^edgefw: //' "$WORK/bad1.out" | cut -c1-110)..."
mkdir -p "$WORK/tampered"
cp -r "$WORK/bundles-v4/edge1" "$WORK/tampered/"
printf '# one more line\n' >>"$WORK/tampered/edge1/policy.yaml"
if node_ssh edge1 /usr/local/sbin/edgefw reload --bundle "$WORK/tampered/edge1" --instance $INST >"$WORK/bad2.out" 2>&1; then
  fail "edge1 took a tampered bundle"
fi
grep -q "policy.yaml does not match its manifest" "$WORK/bad2.out" || fail "tampered bundle: $(cat "$WORK/bad2.out")"
ok "tampered bundle: $(sed 's/^edgefw: //' "$WORK/bad2.out" | cut -c1-110)..."
[ "$(status_of edge1 | jq -c '{policy_hash, policy_sha256, generation, prog_xdp_id}')" = "$before" ] ||
  fail "edge1 changed after refused bundles"
ok "edge1 unchanged (same hashes, generation, programs)"
# An unreachable canary (no host at 198.19.33.99) stops the play before any node.
python3 - "$WORK/inventory.yml" "$WORK/inventory-unreachable.yml" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
out = []
for l in lines:
    out.append(l)
    if l.strip() == "pool_edge:":
        pass
    if l.rstrip() == "          hosts:" and not any("edge0" in x for x in out):
        out.append("            edge0:\n              ansible_host: 198.19.33.99\n"
                   "              edgefw_node: edge1\n              edgefw_pool: edge\n")
open(sys.argv[2], "w").write("".join(out))
PY
play unreachable bundles-v4 "$WORK/inventory-unreachable.yml"
[ "$PLAY_RC" != 0 ] || fail "a play with an unreachable canary succeeded"
[ "$(recap unreachable edge0 unreachable)" = 1 ] || fail "edge0 not reported unreachable"
for n in "${NODES[@]}"; do
  [ "$(recap unreachable "$n" ok)" = - ] || fail "unreachable canary: $n was reached"
  expect_runs "$n" v2
done
ok "unreachable canary edge0: play stopped (rc $PLAY_RC), edge1 edge2 rproxy not reached, still v2"

# ---------------------------------------------------------------- 2: lockout refused on the canary

log "== scenario 2: v3 would lock out management SSH ($(elapsed) s)"
play s2 bundles-v3
[ "$PLAY_RC" != 0 ] || fail "scenario 2: the lockout policy rolled out"
[ "$(recap s2 edge1 failed)" = 1 ] || fail "scenario 2: edge1 failed=$(recap s2 edge1 failed)"
grep -q "would drop your SSH session" "$WORK/play-s2.log" || fail "scenario 2: no anti-lockout refusal in the play output"
for n in edge2 rproxy; do [ "$(recap s2 "$n" ok)" = - ] || fail "scenario 2: $n was reached"; done
for n in "${NODES[@]}"; do expect_runs "$n" v2; done
node_ssh edge1 true || fail "scenario 2: SSH to edge1 no longer works"
ok "canary edge1 refused v3 ('this policy would drop your SSH session ...'), play stopped; edge1 edge2 rproxy keep v2"

# ---------------------------------------------------------------- 3: failed gate on edge2, drift

log "== scenario 3: v4 passes on edge1, edge2's health gate fails (its exporter is down) ($(elapsed) s)"
kill -TERM -- "-${EXPORTER[edge2]}" 2>/dev/null || true
# When edge2 takes v4 (its own clock, as status says): the rollback is timed from it.
g0=$(status_of edge2 | jq -r .generation)
(
  for _ in $(seq 1200); do
    s=$(status_of edge2)
    [ "$(jq -r .policy_sha256 <<<"$s")" = "${PH[v4]}" ] && { jq -r .reloaded_at <<<"$s" >"$WORK/edge2-v4-at"; exit 0; }
    sleep 0.25
  done
) &
watcher=$!
play s3 bundles-v4
t_fail=$(date +%s)
[ "$PLAY_RC" != 0 ] || fail "scenario 3: the play succeeded with edge2's gate broken"
[ "$(recap s3 edge1 failed)" = 0 ] || fail "scenario 3: canary failed"
[ "$(recap s3 edge2 failed)" = 1 ] || fail "scenario 3: edge2 failed=$(recap s3 edge2 failed)"
[ "$(recap s3 rproxy ok)" = - ] || fail "scenario 3: rproxy was reached"
grep -q "failed the health gate" "$WORK/play-s3.log" || fail "scenario 3: no gate failure message"
expect_runs edge1 v4
wait "$watcher" || true
[ -s "$WORK/edge2-v4-at" ] || fail "scenario 3: edge2 never ran v4"
t_reload=$(date -d "$(cat "$WORK/edge2-v4-at")" +%s)
ok "edge1 runs v4; edge2 took v4 (reload, confirm pending) and failed its gate (exporter down); rproxy not reached"
for ((i = 0; i < (CONFIRM + 30) * 2; i++)); do
  s=$(status_of edge2)
  [ "$(jq -r .policy_sha256 <<<"$s")" = "${PH[v2]}" ] && [ "$(jq -r .generation <<<"$s")" = $((g0 + 2)) ] && break
  sleep 0.5
done
expect_runs edge2 v2
expect_runs rproxy v2
t_back=$(date -d "$(status_of edge2 | jq -r .reloaded_at)" +%s)
back=$((t_back - t_reload))
[ "$back" -ge "$CONFIRM" ] && [ "$back" -le $((CONFIRM + 5)) ] || fail "scenario 3: edge2 rolled back $back s after its reload (confirm $CONFIRM s)"
ok "edge2 rolled back to v2 by its own timer $back s after its reload (--confirm $CONFIRM), $(($(date +%s) - t_fail)) s after the play stopped; rproxy still v2"
start_exporter edge2
wait_query 'ALERTS{alertname="EdgefwPolicyDrift",alertstate="firing"}' "=1" 30
pool=$(curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode 'query=ALERTS{alertname="EdgefwPolicyDrift",alertstate="firing"}' | jq -r '.data.result[0].metric.pool')
[ "$pool" = edge ] || fail "scenario 3: drift alert for pool '$pool', expected edge"
ok "Prometheus: EdgefwPolicyDrift firing for pool edge (edge1 v4, edge2 v2)"

log "PASS fleet: setup, scenarios 1-4 and bad input in $(elapsed) s; UDP ${S1_SENT} sent, 0 lost during a ${S1_SECS} s rollout"
