#!/usr/bin/env bash
# Help centre: requests/s of warm `GET /help/default/de` (the home page: search
# box, categories with counts, most read and most helpful articles) from Emma's
# page cache, against nginx serving the very same bytes as a static file,
# measured in the same run. Target: Emma >= 10,000 requests/s.
#
#   bench/help.sh        EMMA_BIN=./emma  BENCH_DURATION=10s  BENCH_CONNECTIONS=64
#                        BENCH_THREADS=2  BENCH_ROUNDS=3  BENCH_ARTICLES=2000
#
# The knowledge base holds BENCH_ARTICLES published articles in 10 categories
# (imported with `emma import-faq`). An article page is measured too: each of
# its requests also queues a "view" event for the store (wrk sends no
# User-Agent, so it counts as a visitor). Both peers run one worker (Emma's
# loop thread, one nginx worker), without access logs, keep-alive, no gzip
# (wrk sends no Accept-Encoding).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EMMA_BIN="${EMMA_BIN:-./emma}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
ARTICLES="${BENCH_ARTICLES:-2000}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

for tool in wrk curl node "$NGINX" "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "help: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/help.XXXXXX")
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

# Runs wrk against $1 and prints "REQS P99 ERRORS".
measure() {
	local out
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1")
	echo "$out" >>"$tmp/wrk.log"
	local reqs p99 errs
	reqs=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	errs=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')
	echo "${reqs:-0} ${p99:-?} ${errs:-0}"
}

# ---- the knowledge base ------------------------------------------------------
node -e '
const n = +process.argv[1];
const cats = ["Versand", "Rücksendung", "Zahlung", "Konto", "Bestellung", "Gutscheine", "Größen", "Pflege", "Garantie", "Datenschutz"];
const out = [];
for (let i = 0; i < n; i++) {
	const c = cats[i % cats.length];
	out.push({ lang: i % 5 === 4 ? "en" : "de", slug: `artikel-${i}`, category: c,
		question: `Frage ${i} zum Thema ${c}: wie funktioniert das?`,
		answer: `Antwort ${i}. **${c}** ist einfach: Schritt eins, Schritt zwei.\n\n- Punkt A\n- Punkt B\n\n[Mehr](https://shop.example/${i})`,
		tags: ["bench", c] });
}
process.stdout.write(JSON.stringify(out));
' "$ARTICLES" >"$tmp/articles.json"

start_emma "$tmp/emma" "$tmp/emma"
imported=$("$EMMA_BIN" import-faq --data "$tmp/emma" --publish "$tmp/articles.json" 2>/dev/null | tail -n 1)
echo "help: $imported"
home="http://127.0.0.1:$emma_port/help/default/de"
article="http://127.0.0.1:$emma_port/help/default/de/artikel-0"
curl -sf -o "$tmp/home.html" "$home"
curl -sf -o "$tmp/article.html" "$article"
# nginx's worker may run as another user: it must be able to read the files.
chmod 755 "$tmp"
chmod 644 "$tmp/home.html" "$tmp/article.html"

# ---- nginx: the same pages as static files --------------------------------------
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
		default_type "text/html; charset=utf-8";
		location = /help/default/de { alias $tmp/home.html; add_header Cache-Control "public, max-age=60"; }
		location = /help/default/de/artikel-0 { alias $tmp/article.html; add_header Cache-Control "public, max-age=60"; }
	}
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" 2>"$tmp/nginx/stderr" &
nginx_pid=$!
if ! wait_http "$nginx_port"; then
	echo "help: nginx did not start:" >&2
	cat "$tmp/nginx/stderr" "$tmp/nginx/logs/error.log" >&2 || true
	exit 1
fi
nhome="http://127.0.0.1:$nginx_port/help/default/de"
narticle="http://127.0.0.1:$nginx_port/help/default/de/artikel-0"
if ! cmp -s "$tmp/home.html" <(curl -sf "$nhome"); then
	echo "help: nginx does not serve the same bytes:" >&2
	curl -si "$nhome" | head -20 >&2
	exit 1
fi

echo "help: GET the home page ($(wc -c <"$tmp/home.html") bytes) and an article page" \
	"($(wc -c <"$tmp/article.html") bytes), keep-alive, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds" \
	"($(nproc) cores, machine shared with other work: expect noise)"

declare -a nh eh na ea rh ra
for round in $(seq "$ROUNDS"); do
	wrk -t1 -c4 -d1s "$nhome" >/dev/null
	wrk -t1 -c4 -d1s "$home" >/dev/null
	read -r n_rps n_p99 n_err < <(measure "$nhome")
	read -r e_rps e_p99 e_err < <(measure "$home")
	read -r na_rps na_p99 na_err < <(measure "$narticle")
	read -r ea_rps ea_p99 ea_err < <(measure "$article")
	check=ok
	if [ "$n_err$e_err$na_err$ea_err" != 0000 ]; then
		check="ERRORS (non-2xx: nginx $n_err/$na_err, emma $e_err/$ea_err)"
	fi
	printf 'round %d: home    nginx %10s req/s (p99 %s)  emma %10s req/s (p99 %s)  ratio %s\n' \
		"$round" "$n_rps" "$n_p99" "$e_rps" "$e_p99" "$(ratio "$e_rps" "$n_rps")"
	printf 'round %d: article nginx %10s req/s (p99 %s)  emma %10s req/s (p99 %s)  ratio %s  %s\n' \
		"$round" "$na_rps" "$na_p99" "$ea_rps" "$ea_p99" "$(ratio "$ea_rps" "$na_rps")" "$check"
	nh+=("$n_rps")
	eh+=("$e_rps")
	na+=("$na_rps")
	ea+=("$ea_rps")
	rh+=("$(ratio "$e_rps" "$n_rps")")
	ra+=("$(ratio "$ea_rps" "$na_rps")")
done
stop_emma

printf '%-52s %12s req/s\n' "nginx  static file (home page)" "$(median "${nh[@]}")"
printf '%-52s %12s req/s\n' "emma   GET /help/default/de, warm" "$(median "${eh[@]}")"
printf '%-52s %12s req/s\n' "nginx  static file (article page)" "$(median "${na[@]}")"
printf '%-52s %12s req/s\n' "emma   GET /help/default/de/artikel-0 (+ view event)" "$(median "${ea[@]}")"
printf 'RESULT help home: emma %s req/s (target >= 10000); emma/nginx = %s (median of per-round ratios %s)\n' \
	"$(median "${eh[@]}")" "$(median "${rh[@]}")" "${rh[*]}"
printf 'RESULT help article: emma/nginx = %s (median of per-round ratios %s)\n' \
	"$(median "${ra[@]}")" "${ra[*]}"
