-- wrk script for the beacon ingest benchmark (bench/beacon.sh): every request
-- is one POST /t with one pageview, as the tracker sends it, the same bytes
-- for both peers.
--
-- Visitor ids: each wrk thread cycles through BENCH_VIDS ids of its own
-- ("b<thread>-<n>", default 10000 per thread), so the first round of
-- requests creates visitors (visitor + visit + event rows) and every later
-- request is a known visitor's next page view (one event row, visit and
-- visitor updated). BENCH_VIDS=1 gives one visitor per thread, BENCH_VIDS=0
-- a new visitor on every request.
--
-- Pages rotate over 500 product URLs. A browser User-Agent is sent because
-- requests without one are classified as bots, which Emma answers without
-- storing anything.

local threads = {}
local counter = 0
id = 0 -- a global: setup() gives each thread its own number through thread:set
local pool = tonumber(os.getenv("BENCH_VIDS") or "10000")

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = "https://shop.example"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
	"Chrome/122.0.0.0 Safari/537.36"

function setup(thread)
	thread:set("id", #threads + 1)
	table.insert(threads, thread)
end

function request()
	counter = counter + 1
	local n = pool > 0 and (counter % pool) or counter
	local page = counter % 500
	local body = string.format(
		'{"site":"default","vid":"b%d-%d","events":[{"type":"pageview",' ..
		'"url":"https://shop.example/products/item-%d","title":"Item %d",' ..
		'"ref":"https://shop.example/category/all"}]}', id, n, page, page)
	return wrk.format(nil, wrk.path, nil, body)
end
