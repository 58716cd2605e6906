-- Replays request lines ("METHOD PATH") from a file, one slice per wrk thread.
-- args: <file> <threads> <token> <mode: cycle|once>
-- "once" sends each line once (checkouts consume their cart) and stops the thread when done.
-- done() prints one JSON line with throughput inputs, latency percentiles and status counts, and the
-- latency percentiles of each status apart: each request carries its send time (a monotonic clock, in
-- microseconds) as its X-Request-Id, which the service echoes, so response() knows its latency and
-- counts it in a histogram of its status with 1% wide buckets, one flat table keyed by
-- status * 10000 + bucket (wrk crashed copying lists, and tables of tables, out of its threads).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
STEP = math.log(1.01)
local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  token, mode = args[3], args[4]
  lines = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then table.insert(lines, line) end
    i = i + 1
  end
  idx = 0
  statuses = {}
  latencies = {}
  exhausted = 0
end

function request()
  idx = idx + 1
  if idx > #lines then
    if mode == "once" then
      exhausted = exhausted + 1
      wrk.thread:stop()
    end
    idx = 1
  end
  local method, path = lines[idx]:match("^(%S+)%s+(%S+)$")
  local headers = { ["Authorization"] = "Bearer " .. token, ["X-Request-Id"] = "t" .. now_us() }
  local body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = path
    body = "{}"
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local sent = headers["x-request-id"] or headers["X-Request-Id"]
  if sent and sent:sub(1, 1) == "t" then
    local bucket = math.floor(math.log(math.max(now_us() - tonumber(sent:sub(2)), 1)) / STEP)
    local key = status * 10000 + bucket
    latencies[key] = (latencies[key] or 0) + 1
  end
end

local function percentile(hist, total, p)
  local buckets = {}
  for b in pairs(hist) do table.insert(buckets, b) end
  table.sort(buckets)
  local want, seen = math.max(1, math.ceil(total * p / 100)), 0
  for _, b in ipairs(buckets) do
    seen = seen + hist[b]
    if seen >= want then return math.floor(math.exp((b + 0.5) * STEP)) end
  end
  return 0
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do agg[code] = (agg[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(agg) do table.insert(parts, string.format('"%d": %d', code, n)) end
  -- Status 0: every response. These are the measured latencies only: wrk's own percentiles above also
  -- count the samples its coordinated-omission correction adds for long pauses.
  local by_status, totals = {[0] = {}}, {[0] = 0}
  for _, t in ipairs(threads) do
    for key, n in pairs(t:get("latencies")) do
      local code, b = math.floor(key / 10000), key % 10000
      by_status[code] = by_status[code] or {}
      by_status[code][b] = (by_status[code][b] or 0) + n
      totals[code] = (totals[code] or 0) + n
      by_status[0][b] = (by_status[0][b] or 0) + n
      totals[0] = totals[0] + n
    end
  end
  local split = {}
  for code, hist in pairs(by_status) do
    table.insert(split, string.format('"%d": {"n": %d, "p50_us": %d, "p99_us": %d}',
      code, totals[code], percentile(hist, totals[code], 50), percentile(hist, totals[code], 99)))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "socket_errors": %d, "statuses": {%s}, "by_status": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", "), table.concat(split, ", ")))
end
