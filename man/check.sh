#!/usr/bin/env bash
# edgefw(8) must name every command and flag the CLI has: each command of
# `edgefw --help` and each flag of `edgefw CMD --help` appears in bold in
# man/edgefw.8.scd (*check*, *--site*), so a new flag needs its line there.
#   man/check.sh [EDGEFW [PAGE]]
set -uo pipefail
edgefw=${1:-build/edgefw}
page=${2:-man/edgefw.8.scd}
[ -x "$edgefw" ] || { echo "man-check: no $edgefw" >&2; exit 1; }
[ -r "$page" ] || { echo "man-check: no $page" >&2; exit 1; }

missing=()
has() { grep -qF -- "*$1*" "$page" || missing+=("$2"); }
commands=$("$edgefw" --help | sed -n '/^Subcommands:/,$ s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
[ -n "$commands" ] || { echo "man-check: no commands in $edgefw --help" >&2; exit 1; }
flags=0
for cmd in $commands; do
    has "$cmd" "command $cmd"
    for flag in $("$edgefw" "$cmd" --help | sed -n '/^Options:/,$ s/^  \(-[a-z],\)\{0,1\}\(--[a-z0-9-]*\).*/\2/p'); do
        [ "$flag" = --help ] && continue
        has "$flag" "$cmd $flag"
        flags=$((flags + 1))
    done
done
if [ ${#missing[@]} -ne 0 ]; then
    echo "man-check: $page does not describe: ${missing[*]}" >&2
    exit 1
fi
echo "man-check: $page names all $(wc -w <<<"$commands") commands and $flags command flags of $edgefw --help"
