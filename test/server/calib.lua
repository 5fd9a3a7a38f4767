-- calib.lua -- wrk script of `make test-server`: POSTs the .npy file named by
-- the environment variable CALIB_BODY to the URL's path (/v1/calibrate),
-- counts the responses by HTTP status in every wrk thread, and prints one line
--   WRK_RESULT {"statuses": {"200": N, ...}, "requests": N, "duration_us": N,
--               "errors": {...}, "latency_us": {"p50": .., "p90": .., "p99": .., "max": .., "mean": ..}}
-- at the end (read by test/server/load.py).
local f = assert(io.open(os.getenv("CALIB_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for s, n in pairs(c) do
      total[s] = (total[s] or 0) + n
    end
  end
  local parts = {}
  for s, n in pairs(total) do
    table.insert(parts, string.format('"%d": %d', s, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"statuses": {%s}, "requests": %d, "duration_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    table.concat(parts, ", "), summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
