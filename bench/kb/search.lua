-- wrk script for bench/kb/speed.sh: GET /api/v1/faq/search over the query file in
-- $KB_QUERIES ("lang<TAB>url-encoded query" per line), each thread from its own offset,
-- keep-alive; done() prints one line: "kb-result p50_us p99_us rps requests errors".
local queries = {}
for line in io.lines(os.getenv("KB_QUERIES")) do
	local lang, q = line:match("^(%a+)\t(.+)$")
	if lang then
		queries[#queries + 1] = "/api/v1/faq/search?lang=" .. lang .. "&limit=5&products=3&q=" .. q
	end
end

local counter = 0
function setup(thread)
	counter = counter + 1
	thread:set("first", counter * 97)
end

local i = nil
function request()
	if not i then
		i = (first or 0) % #queries
	end
	i = i % #queries + 1
	return wrk.format("GET", queries[i])
end

function done(summary, latency, requests)
	local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
	io.write(string.format("kb-result %d %d %.1f %d %d\n", latency:percentile(50), latency:percentile(99),
		summary.requests / (summary.duration / 1e6), summary.requests, errors))
end
