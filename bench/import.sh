#!/usr/bin/env bash
# Access-log import: `emma import-log` against GoAccess on the same generated
# combined log in the same run, and Emma's rate at several log sizes.
#
#   bench/import.sh      EMMA_BIN=./emma  BENCH_ROUNDS=3
#                        IMPORT_LINES=2000000 (the file both peers read)
#                        IMPORT_SIZES="1000000 2000000 10000000" (Emma's rate at each)
#
# The log comes from bench/genlog.c (deterministic: the same bytes every run).
# Each round runs GoAccess and then Emma back to back on the same file; times
# are wall-clock seconds of the whole command (Emma: open the store, parse,
# sessionize, commit, checkpoint and close; GoAccess: parse and write its JSON
# report, progress output off), and the result is the median over the rounds.
# CPU seconds (user + system, all threads) are reported next to them: on a
# machine shared with other work they vary less than wall-clock time.
# Every Emma import goes into a fresh copy of a data directory in which
# `emma serve` ran once (so the default site exists), and the summary line
# must report the same page views in every round.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EMMA_BIN="${EMMA_BIN:-./emma}"
ROUNDS="${BENCH_ROUNDS:-3}"
LINES="${IMPORT_LINES:-2000000}"
SIZES="${IMPORT_SIZES:-1000000 2000000 10000000}"

for tool in goaccess cc /usr/bin/time "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "import: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/import.XXXXXX")
emma_pid=
cleanup() {
	stop_emma
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Runs a command; prints "WALL CPU" seconds.
timed() {
	/usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@"
	awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$tmp/time"
}

cc -O2 -o "$tmp/genlog" bench/genlog.c
log_for() {
	local f="$tmp/access-$1.log"
	[ -f "$f" ] || "$tmp/genlog" -n "$1" -f combined -o "$f"
	echo "$f"
}

# A data directory with the default site: emma serve once, then stop it.
start_emma "$tmp/template" "$tmp/template"
stop_emma

# Imports $1 into a fresh data directory; prints "WALL CPU PAGEVIEWS".
emma_import() {
	rm -rf "$tmp/data"
	cp -r "$tmp/template" "$tmp/data"
	local t views
	t=$(timed "$EMMA_BIN" import-log --data "$tmp/data" "$1" 2>"$tmp/import.err" </dev/null)
	views=$(sed -n 's/.*imported \([0-9]*\) page views.*/\1/p' "$tmp/import.err")
	echo "$t ${views:-?}"
}

# Prints "WALL CPU".
goaccess_run() {
	timed goaccess "$1" --no-global-config --log-format=COMBINED --no-progress -o "$tmp/report.json" \
		2>"$tmp/goaccess.err" </dev/null
}

echo "import: emma import-log vs goaccess ($(goaccess --version | head -n 1)), $ROUNDS rounds," \
	"$(nproc) cores, machine shared with other work: expect noise"

# ---- Emma against GoAccess on the same file ------------------------------
file=$(log_for "$LINES")
g_all=()
e_all=()
gc_all=()
ec_all=()
views_seen=
for round in $(seq "$ROUNDS"); do
	read -r g gc < <(goaccess_run "$file")
	read -r e ec views < <(emma_import "$file")
	if [ -n "$views_seen" ] && [ "$views" != "$views_seen" ]; then
		echo "import: round $round imported $views page views, an earlier round $views_seen" >&2
		exit 1
	fi
	views_seen=$views
	printf 'round %d: goaccess %7.2f s (cpu %6.2f s)   emma %7.2f s (cpu %6.2f s)   ratio %s (cpu %s)\n' \
		"$round" "$g" "$gc" "$e" "$ec" "$(ratio "$g" "$e")" "$(ratio "$gc" "$ec")"
	g_all+=("$g")
	e_all+=("$e")
	gc_all+=("$gc")
	ec_all+=("$ec")
done
g_med=$(median "${g_all[@]}")
e_med=$(median "${e_all[@]}")
gc_med=$(median "${gc_all[@]}")
ec_med=$(median "${ec_all[@]}")
printf 'goaccess %d lines: %.2f s (%.0f lines/s)\n' "$LINES" "$g_med" "$(awk -v n="$LINES" -v s="$g_med" 'BEGIN{print n/s}')"
printf 'emma     %d lines: %.2f s (%.0f lines/s, %s page views stored)\n' "$LINES" "$e_med" \
	"$(awk -v n="$LINES" -v s="$e_med" 'BEGIN{print n/s}')" "$views_seen"
printf 'RESULT import-log: emma/goaccess speed = %s wall-clock, %s CPU time (median of %d rounds; target >= 10)\n' \
	"$(ratio "$g_med" "$e_med")" "$(ratio "$gc_med" "$ec_med")" "$ROUNDS"

# ---- Emma's rate at each size -------------------------------------------
rates=()
first_rate=
for n in $SIZES; do
	if [ "$n" = "$LINES" ]; then
		med=$e_med # measured above
	else
		f=$(log_for "$n")
		all=()
		for _ in $(seq "$ROUNDS"); do
			read -r e _ _ < <(emma_import "$f")
			all+=("$e")
		done
		med=$(median "${all[@]}")
		rm -f "$f"
	fi
	rate=$(awk -v n="$n" -v s="$med" 'BEGIN { printf "%.0f", n / s }')
	first_rate=${first_rate:-$rate}
	printf 'emma %9d lines: %7.2f s  %9s lines/s\n' "$n" "$med" "$rate"
	rates+=("$n:$rate")
done
printf 'RESULT import-log rate by size (lines:lines/s): %s; largest/smallest = %s (flat = 1.00)\n' \
	"${rates[*]}" "$(ratio "${rate}" "$first_rate")"
