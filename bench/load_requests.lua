-- wrk script of bench/load.py: requests and sessions from files, every status counted.
--
-- BENCH_REQUESTS  a file, one request a line: PATH, or PATH<TAB>Header-Name: value
-- BENCH_COOKIES   optional file, one Cookie header value a line. wrk gives no hook per
--                 connection, so each thread takes its share of the lines (line i goes to
--                 thread i mod BENCH_THREADS) and rotates through them request by request:
--                 with -t 4 -c 1000 and 1,000 cookies every session is in use all the time.
--                 A request line with a header of its own does not take a cookie.
-- BENCH_THREADS   wrk's -t (to split the cookies)
--
-- Prints one line "BENCH {json}": percentiles (ms), the count of answers per HTTP status (wrk
-- itself only counts >= 400 as errors, so a 302 to the sign-in page would pass unseen), socket
-- errors, and how many latency samples are above 0.2/0.5/1/2/5/10 s. The samples are wrk's
-- histogram, the one its percentiles come from: every answer within --timeout, plus the
-- samples wrk adds for coordinated omission (stats_correct: for an answer slower than twice the
-- mean interval between a connection's requests), so they can outnumber the answers.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function read_lines(path)
  local found = {}
  if path and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then table.insert(found, line) end
    end
  end
  return found
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  reqs = {}
  for _, line in ipairs(read_lines(os.getenv("BENCH_REQUESTS"))) do
    local path, header = string.match(line, "^([^\t]+)\t(.+)$")
    if path then
      local name, value = string.match(header, "^([^:]+):%s*(.*)$")
      table.insert(reqs, { path = path, name = name, value = value })
    else
      table.insert(reqs, { path = line })
    end
  end
  cookies = {}
  for i, line in ipairs(read_lines(os.getenv("BENCH_COOKIES"))) do
    if (i - 1) % nthreads == tid then table.insert(cookies, line) end
  end
  math.randomseed(1000 + (tid or 0) * 7919)
  req_index = math.random(#reqs)
  cookie_index = #cookies > 0 and math.random(#cookies) or 0
  statuses = {}
end

request = function()
  req_index = req_index % #reqs + 1
  local r = reqs[req_index]
  local headers = {}
  if r.name then
    headers[r.name] = r.value
  elseif #cookies > 0 then
    cookie_index = cookie_index % #cookies + 1
    headers["Cookie"] = cookies[cookie_index]
  end
  return wrk.format("GET", r.path, headers)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local limits = { 200, 500, 1000, 2000, 5000, 10000 }
  local over = { 0, 0, 0, 0, 0, 0 }
  local samples = 0
  for i = 1, #latency do
    local value, count = latency(i)
    samples = samples + count
    for j, limit in ipairs(limits) do
      if value > limit * 1000 then over[j] = over[j] + count end
    end
  end
  local over_parts = {}
  for j, limit in ipairs(limits) do
    table.insert(over_parts, string.format('"%d": %d', limit, over[j]))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f, "mean": %.3f, '
      .. '"requests": %d, "samples": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"timeout": %d, "wrk_status_errors": %d, "statuses": {%s}, "over_ms": {%s}}\n',
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    summary.requests, samples, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(parts, ", "), table.concat(over_parts, ", ")))
end
