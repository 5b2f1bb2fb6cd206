# Shared by the monitor tests. ensure_prometheus: promtool and prometheus from
# Debian's 'prometheus' package, installed when missing; returns 1 when it cannot be.
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

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
