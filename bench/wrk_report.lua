-- wrk script: cycles through BENCH_PATHS ("|"-separated), sends BENCH_COOKIE / BENCH_AUTH,
-- optional BENCH_METHOD and BENCH_BODY (JSON), and prints one JSON line with percentiles.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
  table.insert(paths, p)
end
local cookie = os.getenv("BENCH_COOKIE")
local auth = os.getenv("BENCH_AUTH")
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local counter = 0

function setup(thread)
  thread:set("offset", math.random(1, #paths))
end

request = function()
  counter = counter + 1
  local path = paths[((counter + (offset or 0)) % #paths) + 1]
  local headers = {}
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  if auth and auth ~= "" then headers["Authorization"] = auth end
  if body and body ~= "" then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"p50": %.3f, "p95": %.3f, "p99": %.3f, "requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d}\n',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
