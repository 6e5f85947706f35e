#!/usr/bin/env bash
# Soak: keeps `emma serve` under mixed load for a while and watches its memory.
#
#   bench/soak.sh          (make soak)     SOAK_DURATION=120 (seconds)  EMMA_BIN=./emma
#
# Two wrk loads run at once against a fresh data directory: GET /healthz, and
# POST /t beacons (each a stored pageview, so the write path and the store are
# exercised). Every 5 s the server's resident memory is printed. At the end the
# server must still answer /healthz and stop cleanly on SIGTERM (exit 0); those
# are the only checks. Memory is reported, not judged: read the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

EMMA_BIN="${EMMA_BIN:-./emma}"
DURATION="${SOAK_DURATION:-120}"

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/soak.XXXXXX")
emma_pid=
wrk_pids=()
cleanup() {
	for p in "${wrk_pids[@]+"${wrk_pids[@]}"}"; do
		kill "$p" 2>/dev/null || true
	done
	if [ -n "$emma_pid" ] && kill -0 "$emma_pid" 2>/dev/null; then
		kill -KILL "$emma_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

EMMA_LOG_ACCESS_LOG=false EMMA_INITIAL_ADMIN_PASSWORD="soak-password-$RANDOM" \
	"$EMMA_BIN" serve --listen 127.0.0.1:0 --data "$tmp/data" >"$tmp/emma.out" 2>"$tmp/emma.err" &
emma_pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*msg=listening.*port=\([0-9][0-9]*\).*/\1/p' "$tmp/emma.err" | head -n 1)
	if [ -n "$port" ] || ! kill -0 "$emma_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "soak: emma did not start:" >&2
	cat "$tmp/emma.err" >&2
	exit 1
fi
base="http://127.0.0.1:$port"

# One pageview beacon per request, from a handful of returning visitors.
cat >"$tmp/beacon.lua" <<'EOF'
local n = 0
request = function()
	n = n + 1
	local body = string.format(
		'{"site":"default","events":[{"type":"pageview","url":"https://shop.example/p/%d","title":"Product %d"}]}',
		n % 500, n % 500)
	return wrk.format("POST", "/t", { ["Content-Type"] = "application/json" }, body)
end
EOF

echo "soak: ${DURATION}s against $base (healthz + beacons), rss every 5 s"
start_kb=$(rss_kb "$emma_pid")
wrk -t1 -c16 -d"${DURATION}s" "$base/healthz" >"$tmp/wrk-healthz.log" 2>&1 &
wrk_pids+=($!)
wrk -t1 -c8 -d"${DURATION}s" -s "$tmp/beacon.lua" "$base/t" >"$tmp/wrk-beacon.log" 2>&1 &
wrk_pids+=($!)

peak_kb=$start_kb
for ((t = 5; t <= DURATION; t += 5)); do
	sleep 5
	if ! kill -0 "$emma_pid" 2>/dev/null; then
		echo "soak: emma died after ~${t}s" >&2
		tail -n 50 "$tmp/emma.err" >&2
		exit 1
	fi
	kb=$(rss_kb "$emma_pid")
	((kb > peak_kb)) && peak_kb=$kb
	echo "  t=${t}s rss=$((kb / 1024)) MiB"
done
for p in "${wrk_pids[@]}"; do
	wait "$p" || true
done
wrk_pids=()

end_kb=$(rss_kb "$emma_pid")
echo "healthz: $(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk-healthz.log") req/s" \
	"$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$tmp/wrk-healthz.log" || true)"
echo "beacons: $(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk-beacon.log") req/s" \
	"$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$tmp/wrk-beacon.log" || true)"
echo "rss: start $((start_kb / 1024)) MiB, peak $((peak_kb / 1024)) MiB, end $((end_kb / 1024)) MiB"

status=0
if ! curl -sf "$base/healthz" >/dev/null; then
	echo "soak: /healthz does not answer after the load" >&2
	status=1
fi
kill -TERM "$emma_pid"
set +e
wait "$emma_pid"
rc=$?
set -e
emma_pid=
if [ "$rc" -ne 0 ]; then
	echo "soak: emma exited with status $rc on SIGTERM" >&2
	tail -n 30 "$tmp/emma.err" >&2
	status=1
fi
echo "soak: data dir $( (du -sh "$tmp/data" 2>/dev/null || echo "? ") | cut -f1), exit status on SIGTERM $rc"
exit "$status"
