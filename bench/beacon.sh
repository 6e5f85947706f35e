#!/usr/bin/env bash
# Beacon ingest: requests/s of `POST /t` (keep-alive, one pageview per request,
# every answered event committed) against nginx answering `204` to the same
# requests with its access log on, measured in the same run.
#
#   bench/beacon.sh      EMMA_BIN=./emma  BENCH_DURATION=10s  BENCH_CONNECTIONS=64
#                        BENCH_THREADS=2  BENCH_ROUNDS=3  BENCH_VIDS=10000
#                        BENCH_SYNC=normal|full (Emma's store.synchronous)
#
# Both peers get the same wrk load and the same request bytes (bench/beacon.lua;
# it says how visitor ids vary). Each round measures nginx and then Emma back to
# back; the result is the median over the rounds.
#
# What "durable" means on each side: Emma answers 200 once the event is
# written to the ingest journal (one write(2) per loop turn; while the store
# keeps up) or committed (docs/storage.md), with synchronous=normal; either
# survives a crash of the process; nginx writes
# each access-log line with write(2) before the next request (no buffer=), which
# survives the same and, like Emma's default, not a power loss. BENCH_SYNC=full
# measures Emma with an fsync per group commit instead.
#
# Each Emma round ends with kill -9; Emma is started once more on the same
# data (it replays its journal) and stopped, then the script counts the rows
# of the event table: at least the number of requests wrk saw answered, or
# the round is flagged.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EMMA_BIN="${EMMA_BIN:-./emma}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
SYNC="${BENCH_SYNC:-normal}"
export BENCH_VIDS="${BENCH_VIDS:-10000}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

for tool in wrk sqlite3 "$NGINX" "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "beacon: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/beacon.XXXXXX")
nginx_pid=
emma_pid=
cleanup() {
	stop_emma
	if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
		kill -QUIT "$nginx_pid" 2>/dev/null || true
		wait "$nginx_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# Runs wrk with the beacon script against $1 and prints "REQS P99 TOTAL ERRORS".
measure() {
	local out
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/beacon.lua "$1")
	echo "$out" >>"$tmp/wrk.log"
	local reqs p99 total errs
	reqs=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	total=$(echo "$out" | awk '/requests in/ {print $1}')
	errs=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')
	echo "${reqs:-0} ${p99:-?} ${total:-0} ${errs:-0}"
}

# ---- nginx: return 204, access log on (combined format, unbuffered) -------
nginx_port=$(free_port)
mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log $tmp/nginx/logs/access.log combined;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$nginx_port;
		location / { return 204; }
	}
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" 2>"$tmp/nginx/stderr" &
nginx_pid=$!
if ! wait_http "$nginx_port"; then
	echo "beacon: nginx did not start:" >&2
	cat "$tmp/nginx/stderr" "$tmp/nginx/logs/error.log" >&2 || true
	exit 1
fi

echo "beacon: POST /t, 1 pageview per request, keep-alive, wrk -t$THREADS -c$CONNS -d$DURATION," \
	"$ROUNDS rounds, vids per wrk thread: $BENCH_VIDS, emma store.synchronous=$SYNC ($(nproc) cores," \
	"machine shared with other work: expect noise)"

nginx_all=()
emma_all=()
ratios=()
for round in $(seq "$ROUNDS"); do
	start_emma "$tmp/emma-$round" "$tmp/emma-$round" \
		EMMA_TRACK_RATE_PER_S=1000000 EMMA_TRACK_RATE_BURST=1000000 EMMA_STORE_SYNCHRONOUS="$SYNC"
	# A short warm-up so that neither peer is measured while faulting in pages.
	wrk -t1 -c4 -d1s -s bench/beacon.lua "http://127.0.0.1:$nginx_port/t" >/dev/null
	wrk -t1 -c4 -d1s -s bench/beacon.lua "http://127.0.0.1:$emma_port/t" >/dev/null

	read -r n_rps n_p99 n_total n_err < <(measure "http://127.0.0.1:$nginx_port/t")
	before=$(sqlite3 "$tmp/emma-$round/emma.db" "SELECT count(*) FROM event")
	read -r e_rps e_p99 e_total e_err < <(measure "http://127.0.0.1:$emma_port/t")
	# The end of the round is a crash: what was answered must be there after
	# the next start, which replays the ingest journal.
	kill -KILL "$emma_pid" 2>/dev/null || true
	wait "$emma_pid" 2>/dev/null || true
	start_emma "$tmp/emma-$round" "$tmp/emma-$round-again"
	stop_emma
	stored=$(($(sqlite3 "$tmp/emma-$round/emma.db" "SELECT count(*) FROM event") - before))
	check="ok"
	if [ "$e_err" != 0 ] || [ "$n_err" != 0 ]; then
		check="ERRORS (emma non-2xx $e_err, nginx non-2xx $n_err)"
	elif [ "$stored" -lt "$e_total" ]; then
		check="LOST: $stored events stored for $e_total answered requests"
	fi
	r=$(ratio "$e_rps" "$n_rps")
	printf 'round %d: nginx %10s req/s (p99 %s)   emma %10s req/s (p99 %s)   ratio %s   stored after kill -9 %s/%s answered: %s\n' \
		"$round" "$n_rps" "$n_p99" "$e_rps" "$e_p99" "$r" "$stored" "$e_total" "$check"
	nginx_all+=("$n_rps")
	emma_all+=("$e_rps")
	ratios+=("$r")
	rm -rf "$tmp/emma-$round"
done

n_med=$(median "${nginx_all[@]}")
e_med=$(median "${emma_all[@]}")
printf '%-44s %12s req/s\n' "nginx  POST /t -> 204, access log on" "$n_med"
printf '%-44s %12s req/s\n' "emma   POST /t, durable before the answer" "$e_med"
# The headline is the median of the per-round ratios: each round measures both
# peers back to back, under the same background load.
printf 'RESULT beacon ingest: emma/nginx = %s (median of %d per-round ratios %s; target >= 0.70)\n' \
	"$(median "${ratios[@]}")" "$ROUNDS" "${ratios[*]}"
