#!/usr/bin/env bash
# Contact search over many contacts: p50/p99 of realistic searches through
# the REST API (one keep-alive client, bench/contacts.mjs), next to the peer a
# plain implementation would be: the same kind of search as LIKE '%...%' over
# the contact table (sqlite3 CLI, same database, same run). Also the rate of a
# bulk insert of contacts through the search index's triggers (no CSV).
#
#   bench/contacts.sh      EMMA_BIN=./emma  CONTACTS_N=1000000  SEARCH_ROUNDS=50
#                          SEARCH_PER_QUERY=1 (also p50/p99/max of each query)
#                          CONTACTS_KEEP=DIR (keep the generated data directory
#                          there, and reuse it when it exists: no new insert)
#
# The contacts come from bench/contacts_gen.sql (deterministic), written into
# the database of a stopped emma in one transaction, after `emma serve` ran
# once to create the default site and the admin.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EMMA_BIN="${EMMA_BIN:-./emma}"
N="${CONTACTS_N:-1000000}"
ROUNDS="${SEARCH_ROUNDS:-50}"

for tool in sqlite3 node curl "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "contacts: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/contacts.XXXXXX")
emma_pid=
cleanup() {
	stop_emma
	rm -rf "$tmp"
}
trap cleanup EXIT

data="${CONTACTS_KEEP:-$tmp/data}"
password="bench-password-contacts"
if [ -f "$data/emma.db" ]; then
	echo "contacts: reusing $data ($(sqlite3 "$data/emma.db" 'SELECT count(*) FROM contact') contacts)" >&2
else
	start_emma "$data" "$tmp/emma" EMMA_INITIAL_ADMIN_PASSWORD="$password"
	stop_emma
	echo "contacts: generating $N contacts (one transaction, search index triggers on)" >&2
	t0=$(date +%s.%N)
	sqlite3 "$data/emma.db" -cmd ".parameter set :n $N" <bench/contacts_gen.sql
	t1=$(date +%s.%N)
	secs=$(echo "$t1 - $t0" | bc -l)
	rate=$(echo "$N / $secs" | bc -l)
	size=$(du -sm "$data" | cut -f1)
	printf 'bulk insert: %d contacts in %.1f s = %.0f contacts/s (with the trigram index; data dir %s MiB)\n' \
		"$N" "$secs" "$rate" "$size"
fi

start_emma "$data" "$tmp/emma" EMMA_INITIAL_ADMIN_PASSWORD="$password"
# CPU seconds of the emma process (all threads): on a machine shared with
# other work they say more than wall-clock latencies do.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$emma_pid/stat"; }
echo "emma search through the REST API ($ROUNDS rounds of each query, sequential, keep-alive):"
c0=$(cpu_ticks)
node bench/contacts.mjs "http://127.0.0.1:$emma_port" "$password" "$ROUNDS" | tee "$tmp/search.txt"
c1=$(cpu_ticks)
requests=$(awk '$1 == "all" { print $2 }' "$tmp/search.txt")
printf 'emma CPU per search request (incl. HTTP, JSON): %.2f ms (%d requests; load average %s)\n' \
	"$(echo "($c1 - $c0) * 1000 / $(getconf CLK_TCK) / $requests" | bc -l)" "$requests" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
stop_emma

# The peer: what the same searches cost without an index (LIKE over every
# row, newest first, 50 hits), timed by the sqlite3 shell on the same file.
echo "peer: LIKE '%...%' over name, email, phone, company (sqlite3 $(sqlite3 --version | cut -d' ' -f1), same database):"
for q in 'müll' 'schmi' 'hans.ha' '1552573' 'zo'; do
	out=$(printf '.timer on\nSELECT count(*) FROM (SELECT id FROM contact WHERE merged_into IS NULL AND (name LIKE %s OR email LIKE %s OR phone LIKE %s OR company LIKE %s) ORDER BY id DESC LIMIT 50);\n' \
		"'%$q%'" "'%$q%'" "'%$q%'" "'%$q%'" | sqlite3 "$data/emma.db" 2>&1)
	real=$(printf '%s\n' "$out" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' | tail -n 1)
	hits=$(printf '%s\n' "$out" | head -n 1)
	printf '  %-10s %8.2f ms  (%s hits)\n' "$q" "$(echo "$real * 1000" | bc -l)" "$hits"
done
