#!/usr/bin/env bash
# HTTP throughput of Emma against nginx, measured in the same run on this machine
# (CONVENTIONS.md 11: benchmarks print a ratio against a peer, they assert nothing).
#
#   bench/run.sh          (make bench)
#
# Peers: nginx (Debian's nginx-light, 1 worker, `return 204`, no access log) and
# `emma serve` (fresh data dir, access log off) answering GET /healthz. Both
# listen on free loopback ports; wrk drives each with the same load in turn.
#
#   EMMA_BIN=./emma  BENCH_DURATION=10s  BENCH_CONNECTIONS=64  BENCH_THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."

EMMA_BIN="${EMMA_BIN:-./emma}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

for tool in wrk "$NGINX" "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "bench: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/run.XXXXXX")
nginx_pid=
emma_pid=
cleanup() {
	# Stop only the two servers this script started, by their process ids.
	if [ -n "$emma_pid" ] && kill -0 "$emma_pid" 2>/dev/null; then
		kill -TERM "$emma_pid" 2>/dev/null || true
		wait "$emma_pid" 2>/dev/null || true
	fi
	if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
		kill -QUIT "$nginx_pid" 2>/dev/null || true
		wait "$nginx_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A free loopback port: bind port 0, read it back, release it.
free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Polls until something answers HTTP on 127.0.0.1:$1, at most ~10 s.
wait_http() {
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Runs wrk against $1 and prints "REQS P99" (requests per second, 99th percentile latency).
measure() {
	local out
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1")
	echo "$out" >>"$tmp/wrk.log"
	if echo "$out" | grep -q 'Non-2xx or 3xx responses'; then
		echo "bench: warning: $1 answered errors: $(echo "$out" | grep 'Non-2xx')" >&2
	fi
	local reqs p99
	reqs=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	echo "${reqs:-0} ${p99:-?}"
}

# ---- nginx ---------------------------------------------------------------
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
	access_log off;
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
	echo "bench: nginx did not start:" >&2
	cat "$tmp/nginx/stderr" "$tmp/nginx/logs/error.log" >&2 || true
	exit 1
fi

# ---- emma ----------------------------------------------------------------
EMMA_LOG_ACCESS_LOG=false EMMA_INITIAL_ADMIN_PASSWORD="bench-password-$RANDOM" \
	"$EMMA_BIN" serve --listen 127.0.0.1:0 --data "$tmp/emma-data" >"$tmp/emma.out" 2>"$tmp/emma.err" &
emma_pid=$!
emma_port=
for _ in $(seq 100); do
	emma_port=$(sed -n 's/.*msg=listening.*port=\([0-9][0-9]*\).*/\1/p' "$tmp/emma.err" | head -n 1)
	if [ -n "$emma_port" ] || ! kill -0 "$emma_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [ -z "$emma_port" ]; then
	echo "bench: emma did not log msg=listening:" >&2
	cat "$tmp/emma.err" >&2
	exit 1
fi

# ---- load ----------------------------------------------------------------
echo "bench: wrk -t$THREADS -c$CONNS -d$DURATION, nginx on :$nginx_port, emma on :$emma_port ($(nproc) cores)"
# A short warm-up so that neither peer is measured while faulting in pages.
wrk -t1 -c4 -d1s "http://127.0.0.1:$nginx_port/" >/dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$emma_port/healthz" >/dev/null

read -r nginx_rps nginx_p99 < <(measure "http://127.0.0.1:$nginx_port/")
read -r emma_rps emma_p99 < <(measure "http://127.0.0.1:$emma_port/healthz")

ratio=$(awk -v e="$emma_rps" -v n="$nginx_rps" 'BEGIN { if (n > 0) printf "%.2f", e / n; else print "n/a" }')
printf '%-28s %12s req/s   p99 %s\n' "nginx  GET / (return 204)" "$nginx_rps" "$nginx_p99"
printf '%-28s %12s req/s   p99 %s\n' "emma   GET /healthz" "$emma_rps" "$emma_p99"
printf '%-28s %12s\n' "ratio emma/nginx" "$ratio"

# ---- chat ----------------------------------------------------------------
# 10,000 idle visitor WebSockets + 500 conversations, emma against a Node `ws` relay
# (bench/chat/run.sh, its own settings there). BENCH_CHAT=0 skips it.
if [ "${BENCH_CHAT:-1}" != 0 ]; then
	echo
	EMMA_BIN="$EMMA_BIN" bench/chat/run.sh
fi

# ---- site monitor: beacon ingest, access-log import, live presence --------
# bench/beacon.sh (POST /t vs nginx 204 with its access log), bench/import.sh
# (emma import-log vs GoAccess; rate from 1 M to 10 M lines) and
# bench/presence.mjs (memory per live visitor, delta latency to the console).
# Each has its own settings (see their headers); BENCH_SITE=0 skips all three.
if [ "${BENCH_SITE:-1}" != 0 ]; then
	echo
	EMMA_BIN="$EMMA_BIN" bench/beacon.sh
	echo
	EMMA_BIN="$EMMA_BIN" bench/import.sh
	echo
	EMMA_BIN="$EMMA_BIN" node bench/presence.mjs
fi

# ---- knowledge base: search quality and search latency at scale --------------
# bench/kb/quality.mjs (MRR@5 / recall@5 of 100 German and English customer questions against a
# shop's help articles) and bench/kb/speed.sh (10k articles + 100k products, search p50/p99 at
# concurrency 1 and 8; loading takes a few minutes). BENCH_KB=0 skips both.
if [ "${BENCH_KB:-1}" != 0 ]; then
	echo
	EMMA_BIN="$EMMA_BIN" node bench/kb/quality.mjs --quiet
	echo
	EMMA_BIN="$EMMA_BIN" bench/kb/speed.sh
fi
