#!/usr/bin/env bash
# The completion script must know every command and flag the CLI has, and no
# other: it compares what completing offers with `edgefw --help` and
# `edgefw CMD --help`.
#   tools/bash-completion/check.sh [EDGEFW [COMPLETION]]
# Defaults: build/edgefw and tools/bash-completion/edgefw; make deb-check runs it
# on the installed /usr/sbin/edgefw and /usr/share/bash-completion/completions/edgefw.
# With bash-completion installed, its library is loaded first, as in a shell.
set -uo pipefail
edgefw=${1:-build/edgefw}
script=${2:-tools/bash-completion/edgefw}
[ -x "$edgefw" ] || { echo "completion-check: no $edgefw" >&2; exit 1; }
edgefw=$(realpath "$edgefw")

lib=/usr/share/bash-completion/bash_completion
# shellcheck disable=SC1090
[ -r "$lib" ] && . "$lib"
# shellcheck disable=SC1090
. "$script" || { echo "completion-check: $script does not load" >&2; exit 1; }
declare -F _edgefw >/dev/null || { echo "completion-check: $script defines no _edgefw" >&2; exit 1; }
complete -p edgefw >/dev/null || { echo "completion-check: $script registers no completion for edgefw" >&2; exit 1; }

# An empty directory, so file completion offers nothing.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# What completing the last word of "$@" offers, one a line, sorted.
offers() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _edgefw edgefw "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
    ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

fails=0
differ() { # what want got
    if [ "$2" != "$3" ]; then
        echo "completion-check: $1:"
        diff <(echo "$2") <(echo "$3") | sed -n 's/^</  missing from the completion:/p; s/^>/  not in --help:/p'
        fails=$((fails + 1))
    fi
}

help=$("$edgefw" --help)
commands=$(sed -n '/^Subcommands:/,$ s/^  \([a-z][a-z0-9-]*\) .*/\1/p' <<<"$help" | sort -u)
[ -n "$commands" ] || { echo "completion-check: no commands in edgefw --help" >&2; exit 1; }
differ "completing 'edgefw '" "$commands" "$(offers edgefw '')"
globals=$(sed -n '/^Options:/,/^$/ s/^  \(-[a-z],\)\{0,1\}\(--[a-z0-9-]*\).*/\2/p' <<<"$help" | sort -u)
differ "completing 'edgefw --'" "$globals" "$(offers edgefw --)"

checked=0
# check_command WORDS...: the flags of `edgefw WORDS --help` (e.g. shadow start)
# against what completing `edgefw WORDS --` offers, and each flag's values.
check_command() {
    local what="$*" opts flags flag type
    opts=$("$edgefw" "$@" --help | sed -n '/^Options:/,$p')
    flags=$(sed -n 's/^  \(-[a-z],\)\{0,1\}\(--[a-z0-9-]*\).*/\2/p' <<<"$opts" | sort -u)
    # `-v/--verbose` is global and works after the command too; --help is in each.
    differ "completing 'edgefw $what --'" "$(sort -u <<<"$flags"$'\n'--verbose)" "$(offers edgefw "$@" --)"
    # "FLAG TYPE": CLI11 writes a value's type one space after the flag, the
    # description in a column of its own.
    while read -r flag type; do
        [ "$flag" = --help ] && continue
        if [[ $type =~ ^[A-Z]+(:|$) && $type != REQUIRED ]]; then
            if [[ $type =~ :\{(.*)\}$ ]]; then
                # A fixed set of values: the completion offers exactly those.
                differ "values of 'edgefw $what $flag'" "$(tr , '\n' <<<"${BASH_REMATCH[1]}" | sort -u)" \
                    "$(offers edgefw "$@" policy.yaml "$flag" '')"
            elif offers edgefw "$@" policy.yaml "$flag" -- | grep -q '^-'; then
                echo "completion-check: 'edgefw $what $flag' takes a value (${type}), the completion offers flags there"
                fails=$((fails + 1))
            fi
        elif ! offers edgefw "$@" policy.yaml "$flag" -- | grep -q '^--'; then
            echo "completion-check: 'edgefw $what $flag' takes no value, the completion offers no flags after it"
            fails=$((fails + 1))
        fi
        checked=$((checked + 1))
    done < <(sed -n 's/^  \(-[a-z],\)\{0,1\}\(--[a-z0-9-]*\)\( [^ ]*\)\{0,1\}.*/\2\3/p' <<<"$opts")
}

for cmd in $commands; do
    check_command "$cmd"
    # A command with subcommands of its own (shadow): each of them, and the
    # subcommands offered after the command.
    subs=$("$edgefw" "$cmd" --help | sed -n '/^Subcommands:/,$ s/^  \([a-z][a-z0-9-]*\) .*/\1/p' | sort -u)
    [ -n "$subs" ] || continue
    differ "completing 'edgefw $cmd '" "$subs" "$(offers edgefw "$cmd" '')"
    for sub in $subs; do check_command "$cmd" "$sub"; done
done

if [ "$fails" -ne 0 ]; then
    echo "completion-check: $fails difference(s) between $script and $edgefw --help" >&2
    exit 1
fi
echo "completion-check: $(wc -w <<<"$commands") commands and $checked command flags agree with $edgefw --help"
