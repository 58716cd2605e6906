-- Replays request lines ("METHOD PATH") from a file, one slice per wrk thread.
-- args: <file> <threads> <token> <mode: cycle|once>
-- "once" sends each line once (checkouts consume their cart) and stops the thread when done.
-- done() prints one JSON line with throughput inputs, latency percentiles and status counts.
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
  local headers = { ["Authorization"] = "Bearer " .. token }
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
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do agg[code] = (agg[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(agg) do table.insert(parts, string.format('"%d": %d', code, n)) end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "socket_errors": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
