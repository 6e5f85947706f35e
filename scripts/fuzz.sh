#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c -> build-fuzz/fuzz_*) and runs
# each for SECONDS, one after the other, with ASan, UBSan and leak detection.
# Fails when any target finds a crash, a leak, undefined behaviour or a timeout.
#
#   scripts/fuzz.sh SECONDS [TARGET...]      e.g. scripts/fuzz.sh 20 fuzz_http
#   EMMA_FUZZ_NO_BUILD=1                     run the binaries already in build-fuzz/
#
# Each target starts from its committed seeds in tests/fuzz/corpus/<name>/ plus
# what earlier runs found (build-fuzz/corpus/<name>/, where new inputs go, so the
# committed seeds stay small). A crashing input is saved as
# build-fuzz/artifacts/<name>-crash-* and can be replayed with
#   build-fuzz/fuzz_<name> build-fuzz/artifacts/<name>-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
	echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
	exit 2
fi
shift

if [ "${EMMA_FUZZ_NO_BUILD:-0}" != 1 ]; then
	make --no-print-directory -j"$(nproc)" fuzz-build
fi

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

# halt/abort so that UBSan findings are crashes libFuzzer records, not warnings.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

mkdir -p build-fuzz/artifacts build-fuzz/logs
failed=()
for t in "${targets[@]}"; do
	name="${t#fuzz_}"
	bin="build-fuzz/fuzz_$name"
	seeds="tests/fuzz/corpus/$name"
	work="build-fuzz/corpus/$name"
	log="build-fuzz/logs/$name.log"
	mkdir -p "$work" "$seeds"
	# A dictionary of the format's tokens helps where the parser is a library
	# built without coverage instrumentation (jansson, wslay).
	dict=()
	if [ -f "tests/fuzz/$name.dict" ]; then
		dict=(-dict="tests/fuzz/$name.dict")
	fi
	echo "fuzz: $name for ${secs}s"
	set +e
	# -timeout: one input taking longer than 10 s counts as a hang (a failure).
	"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -detect_leaks=1 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name-" "${dict[@]+"${dict[@]}"}" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	set -e
	# The last status line says how far it got: executions, coverage, corpus.
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $name FAILED (exit $rc); last lines of $log:"
		tail -n 60 "$log"
		ls build-fuzz/artifacts/"$name"-* 2>/dev/null || true
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
	exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a finding"
