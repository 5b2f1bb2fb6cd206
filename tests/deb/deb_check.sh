#!/usr/bin/env bash
# The Debian package as an administrator gets it: apt-get install the .deb, use
# what it installed (binary, reference policy, example site file, man pages,
# bash completion, systemd units), then purge it and check nothing is left.
#   tests/deb/deb_check.sh build/deb/edgefw_<version>_<arch>.deb
# Root (it installs a package): 77 otherwise. Run from the tree's root.
set -euo pipefail
deb=${1:?usage: deb_check.sh PACKAGE.deb}
[ "$(id -u)" -eq 0 ] || { echo "deb-check: needs root (apt-get install); skipped" >&2; exit 77; }
[ -f "$deb" ] || { echo "deb-check: no $deb" >&2; exit 1; }
deb=$(realpath "$deb")
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
# Another apt run on the machine holds dpkg's lock for a while: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=120 "$@"; }
step() { printf '  %-8s %s\n' DEB "$*"; }
fail() { echo "deb-check: $*" >&2; exit 1; }

# An installed edgefw (an earlier run that died before its purge) would make
# apt-get keep that one: this test installs, and purges, its own.
if dpkg-query -W -f='${Status}' edgefw 2>/dev/null | grep -q 'ok installed'; then
    echo "deb-check: edgefw $(dpkg-query -W -f='${Version}' edgefw) is installed; purging it first"
    apt_get purge -y -qq edgefw >/dev/null
fi
purged=0
trap '[ $purged -eq 1 ] || apt_get purge -y -qq edgefw >/dev/null 2>&1 || true' EXIT

# Docker-style Debian images drop /usr/share/man at unpack time
# (/etc/dpkg/dpkg.cfg.d/excludes: path-exclude /usr/share/man/*). There the
# man pages would be missing however good the package is, so this run asks dpkg
# to keep edgefw's own pages (a later --path-include wins over the excludes);
# that they are in the package at all is checked from the .deb itself below.
apt_opts=()
if grep -Eqs '^[[:space:]]*path-exclude[[:space:]=]+/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    echo "deb-check: dpkg excludes /usr/share/man on this system; keeping edgefw's man pages for this install"
    apt_opts=(-o 'DPkg::Options::=--path-include=/usr/share/man/man*/edgefw*')
fi
contents=$(dpkg-deb -c "$deb")
for page in usr/share/man/man8/edgefw.8.gz usr/share/man/man5/edgefw-policy.5.gz; do
    grep -q " \./$page\$" <<<"$contents" || fail "$page is not in $deb"
done

step "apt-get install $deb"
apt_get install -y -qq "${apt_opts[@]}" "$deb" >/dev/null
dpkg-query -W -f='${Status}' edgefw | grep -q 'install ok installed' || fail "edgefw is not installed"
files=$(dpkg -L edgefw)

step "edgefw check on the installed policies"
for f in /usr/sbin/edgefw /etc/edgefw/README /etc/edgefw/site.yaml.example \
    /usr/share/edgefw/policies/lync2010-edge-hlb.yaml /usr/share/edgefw/policies/site-test.yaml \
    /lib/systemd/system/edgefw.service /lib/systemd/system/edgefw-exporter.service \
    /usr/share/bash-completion/completions/edgefw; do
    [ -f "$f" ] || fail "$f is missing after install"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' edgefw)
for f in /etc/edgefw/README /etc/edgefw/site.yaml.example; do
    grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile"
done
/usr/sbin/edgefw check /usr/share/edgefw/policies/lync2010-edge-hlb.yaml >/dev/null 2>&1 ||
    fail "edgefw check /usr/share/edgefw/policies/lync2010-edge-hlb.yaml failed"
for site in /etc/edgefw/site.yaml.example /usr/share/edgefw/policies/site-test.yaml; do
    /usr/sbin/edgefw check /usr/share/edgefw/policies/lync2010-edge-hlb.yaml --site "$site" >/dev/null 2>&1 ||
        fail "edgefw check with --site $site failed"
done

step "man -w edgefw, man -w edgefw-policy"
command -v man >/dev/null || fail "man is not installed (man-db)"
[ "$(man -w edgefw)" = /usr/share/man/man8/edgefw.8.gz ] || fail "man -w edgefw: $(man -w edgefw 2>&1)"
[ "$(man -w 5 edgefw-policy)" = /usr/share/man/man5/edgefw-policy.5.gz ] ||
    fail "man -w edgefw-policy: $(man -w edgefw-policy 2>&1)"
# The pages render without a warning from groff.
for page in edgefw edgefw-policy; do
    warn=$(MANWIDTH=80 man --warnings "$page" 2>&1 >/dev/null) || fail "man $page failed: $warn"
    [ -z "$warn" ] || fail "man $page: $warn"
done

step "bash completion from /usr/share/bash-completion/completions/edgefw"
bash --norc tools/bash-completion/check.sh /usr/sbin/edgefw /usr/share/bash-completion/completions/edgefw
# And the way an interactive shell gets it: bash-completion loads
# completions/edgefw the first time `edgefw` is completed.
# shellcheck disable=SC2016
loaded=$(bash --norc -c '. /usr/share/bash-completion/bash_completion && _completion_loader edgefw; complete -p edgefw' 2>&1) ||
    fail "bash-completion does not load the completion for edgefw: $loaded"
[[ $loaded == *"-F _edgefw edgefw"* ]] || fail "bash-completion loaded something else for edgefw: $loaded"

step "systemd-analyze verify of the installed units"
# As mk/lifecycle.mk's systemd-verify: install systemd for systemd-analyze if it
# is missing (the package installs without starting anything in a container),
# and ignore what only a booted system has (dependencies on other units).
command -v systemd-analyze >/dev/null || apt_get install -y -qq systemd >/dev/null
out=$(systemd-analyze verify /lib/systemd/system/edgefw.service /lib/systemd/system/edgefw-exporter.service 2>&1 |
    grep -v -e 'Cannot add dependency job' -e 'Failed to load configuration' -e 'Unit .* not found' || true)
[ -z "$out" ] || fail "systemd-analyze verify: $out"

step "apt-get purge edgefw"
apt_get purge -y -qq edgefw >/dev/null
purged=1
if dpkg-query -W -f='${Status}' edgefw 2>/dev/null | grep -qv 'not-installed'; then
    fail "edgefw is still known to dpkg after purge: $(dpkg-query -W -f='${Status}' edgefw)"
fi
[ -z "$(dpkg -L edgefw 2>/dev/null)" ] || fail "dpkg -L edgefw still lists files"
left=()
while read -r f; do
    # Directories such as /usr/share/man are shared; edgefw's own must go too.
    if [ -d "$f" ]; then
        case $f in */edgefw | */edgefw/*) [ -e "$f" ] && left+=("$f") ;; esac
    elif [ -e "$f" ] || [ -L "$f" ]; then
        left+=("$f")
    fi
done <<<"$files"
for f in /etc/edgefw /usr/sbin/edgefw /usr/share/edgefw /usr/share/doc/edgefw; do
    [ -e "$f" ] && left+=("$f")
done
state=$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
    -name '*edgefw*' 2>/dev/null || true)
[ -z "$state" ] || left+=("$state")
[ ${#left[@]} -eq 0 ] || fail "left after purge: $(printf '%s\n' "${left[@]}" | sort -u | tr '\n' ' ')"
echo "deb-check: installed, checked and purged $(basename "$deb") in $((SECONDS - start)) s"
