#!/usr/bin/env bash
# Runs cmocka unit-test binaries, each in its own process under a timeout (as
# libuv's runner does), prints their output, and closes with one plain line:
#
#   N passed, N failed
#
# counted in test cases from cmocka's own "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines; ", N skipped" follows when cmocka skipped
# some. A binary that crashes, times out or exits non-zero without saying how
# many failed counts as one failed test.
#
#   scripts/run-unit.sh BIN...        EMMA_UNIT_TIMEOUT=seconds (default 120)
set -euo pipefail

limit="${EMMA_UNIT_TIMEOUT:-120}"
if [ $# -eq 0 ]; then
	echo "run-unit: no test binaries given" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

# cmocka can be switched to XML output by the environment; we parse stdout.
export CMOCKA_MESSAGE_OUTPUT=stdout
out=$(mktemp)
trap 'rm -f "$out"' EXIT

total_pass=0
total_fail=0
total_skip=0
bad_bins=()
for bin in "$@"; do
	name=$(basename "$bin")
	echo "=== $name"
	set +e
	timeout --kill-after=10 "$limit" "$bin" >"$out" 2>&1
	rc=$?
	set -e
	cat "$out"

	pass=0
	fail=0
	skip=0
	while read -r n; do pass=$((pass + n)); done < <(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$out")
	while read -r n; do fail=$((fail + n)); done < <(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$out")
	while read -r n; do skip=$((skip + n)); done < <(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test.*/\1/p' "$out")

	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		# No count from cmocka: a crash, a sanitizer abort or the timeout.
		case "$rc" in
		124 | 137) why="timed out after ${limit}s" ;;
		*) why="exit status $rc" ;;
		esac
		echo "--- $name: $why without a cmocka failure count; counted as 1 failed"
		fail=1
	fi
	if [ "$fail" -gt 0 ]; then
		bad_bins+=("$name")
	fi
	echo "--- $name: $pass passed, $fail failed"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
done

if [ ${#bad_bins[@]} -gt 0 ]; then
	echo "failing: ${bad_bins[*]}"
fi
if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
