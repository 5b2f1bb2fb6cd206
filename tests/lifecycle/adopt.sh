#!/usr/bin/env bash
# `load` adopts the connections that were open before it (kernel/adopt.h).
# An SSH-like session from the management network (198.19.200.5 ->
# 198.19.33.10:22, admitted by the site file's management rule) is open and
# idle when edgefw loads with egress enforced. The node then writes to it and
# the client, which sends nothing meanwhile, must read it: without an entry the
# node's packets would drop at TC egress until the client spoke. A second
# connection to a port no rule admits (198.19.33.10:2222) is not adopted and
# its data does not arrive.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
two_hosts efad 198.19.33.10
private_state
ip -n "$ns_c" addr add 198.19.200.5/16 dev c0

# The node's side: accept on both ports, write one line to each connection
# when $tmp/go appears, then keep the sockets open.
cat >"$tmp/server.py" <<'PY'
import os, socket, sys, time
tmp = sys.argv[1]
conns = []
for port in (22, 2222):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.19.33.10", port))
    s.listen(1)
    conns.append(s)
open(os.path.join(tmp, "listening"), "w").close()
accepted = [s.accept()[0] for s in conns]
while not os.path.exists(os.path.join(tmp, "go")):
    time.sleep(0.05)
for c, port in zip(accepted, (22, 2222)):
    c.sendall(b"hello from %d\n" % port)
time.sleep(30)
PY
# The client's side: connect (from 198.19.200.5), say nothing, and record what
# arrives within 5 s of $tmp/go.
cat >"$tmp/client.py" <<'PY'
import os, socket, sys, time
tmp, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.bind(("198.19.200.5", 0))
s.connect(("198.19.33.10", port))
open(os.path.join(tmp, "connected-%d" % port), "w").close()
while not os.path.exists(os.path.join(tmp, "go")):
    time.sleep(0.05)
s.settimeout(5)
try:
    data = s.recv(100)
except socket.timeout:
    data = b"(nothing)\n"
open(os.path.join(tmp, "got-%d" % port), "wb").write(data)
PY
ip netns exec "$ns_n" python3 "$tmp/server.py" "$tmp" &
pids+=($!)
for _ in $(seq 100); do [ -e "$tmp/listening" ] && break; sleep 0.05; done
for port in 22 2222; do
  ip netns exec "$ns_c" python3 "$tmp/client.py" "$tmp" "$port" &
  pids+=($!)
done
for _ in $(seq 100); do [ -e "$tmp/connected-22" ] && [ -e "$tmp/connected-2222" ] && break; sleep 0.05; done
[ -e "$tmp/connected-22" ] && [ -e "$tmp/connected-2222" ] || fail "the connections did not open"

"$EDGEFW" load policies/lync2010-edge-hlb.yaml --site policies/site-test.yaml --node edge1 \
  --iface internal=n0 --netns "$ns_n" --instance "$inst" >/dev/null
adopted=$("$EDGEFW" status --instance "$inst" --json | jq '.[0].adopted_connections')
touch "$tmp/go"
for _ in $(seq 150); do [ -e "$tmp/got-22" ] && [ -e "$tmp/got-2222" ] && break; sleep 0.05; done
got22=$(cat "$tmp/got-22" 2>/dev/null || echo "(client gone)")
got2222=$(cat "$tmp/got-2222" 2>/dev/null || echo "(client gone)")
[ "$got22" = "hello from 22" ] || fail "the open management session read '$got22' after load"
[ "$got2222" = "(nothing)" ] || fail "a connection no rule admits read '$got2222' after load"
[ "$adopted" = 1 ] || fail "adopted_connections: $adopted (want 1: port 22 only)"
echo "open management session: the node's data arrived after load; port 2222 not adopted"
echo "PASS adopt"
