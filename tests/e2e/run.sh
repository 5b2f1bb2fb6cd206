#!/usr/bin/env bash
# Runs every tests/e2e/test_*.sh (or the ones named on the command line) and prints
# "N passed, N failed, N skipped" as its last line. A test that exits 77 is skipped (missing
# tool or capability); any other non-zero exit is a failure. Exit status: 1 if any failed.
set -u
cd "$(dirname "$0")"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_*.sh)
pass=0 failn=0 skipn=0 failed=()
start=$SECONDS
for t in "${tests[@]}"; do
  t=${t##*/}
  printf '=== %s\n' "${t%.sh}"
  t0=$SECONDS
  bash "./$t"
  rc=$?
  case $rc in
    0) pass=$((pass + 1)); r=PASS ;;
    77) skipn=$((skipn + 1)); r=SKIP ;;
    *) failn=$((failn + 1)); failed+=("${t%.sh}"); r="FAIL (exit $rc)" ;;
  esac
  printf '=== %s: %s in %ss\n' "${t%.sh}" "$r" $((SECONDS - t0))
done
left=$(ip netns list 2>/dev/null | grep -c '^ef-' || true)
if [ "$left" != 0 ]; then
  printf 'e2e: %s namespace(s) ef-* left behind\n' "$left"
  failn=$((failn + 1))
fi
[ ${#failed[@]} -gt 0 ] && printf 'e2e: failed: %s\n' "${failed[*]}"
printf 'e2e: %s tests in %ss\n' ${#tests[@]} $((SECONDS - start))
printf '%d passed, %d failed, %d skipped\n' "$pass" "$failn" "$skipn"
[ "$failn" = 0 ]
