# Shared by the monitor tests (skip, fail, free_port, the jq helpers and the
# namespaces come from tests/lib/common.sh, through tests/lifecycle/lib.sh).
# ensure_prometheus: promtool and prometheus from Debian's 'prometheus'
# package, installed when missing; returns 1 when it cannot be.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
ensure_prometheus() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || return 1
  echo "monitor: installing prometheus (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; } || return 1
  command -v promtool >/dev/null && command -v prometheus >/dev/null
}

# start_exporter: `edgefw exporter` for $inst on a free loopback port ($eport),
# its pid in $exporter (killed by the trap), its first scrape in $tmp/metrics0.
start_exporter() {
  eport=$(free_port)
  "$EDGEFW" exporter --listen "127.0.0.1:$eport" --instance "$inst" >"$tmp/exporter.log" 2>&1 &
  exporter=$!
  pids+=("$exporter")
  for _ in $(seq 100); do http "http://127.0.0.1:$eport/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
  http "http://127.0.0.1:$eport/metrics" >"$tmp/metrics0" || fail "exporter does not serve /metrics"
}

# on_fail: the exporter's and Prometheus's logs, when a test fails.
on_fail() {
  local f
  for f in exporter.log exporter-ext.log prometheus.log; do
    [ -s "$tmp/$f" ] && { echo "--- $f (tail)"; tail -n 20 "$tmp/$f"; }
  done
  return 0
}

# http URL [METHOD]: the body on stdout; exit 1 (and the status on stderr) unless 2xx.
http() {
  python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2] if len(sys.argv) > 2 else "GET")
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, file=sys.stderr); sys.exit(1)
except OSError as e:
    print(e, file=sys.stderr); sys.exit(1)
PY
}
