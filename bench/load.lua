-- wrk script for `python -m bench`: replays pre-built raw HTTP requests, counts every
-- status, and stops sending after `seconds` so that each request sent is answered before
-- wrk exits: the bench then knows exactly how many deductions succeeded.
--
-- wrk -t T -c C -d <seconds + grace> -s load.lua URL -- <requests file> <seconds> <T>
-- The requests file holds records "<byte length>\n<raw HTTP request>".

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
  int clock_gettime(int clock_id, bench_timespec_t *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec_t")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- setup and done run in their own environment ----------------------------------------------
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- one environment per thread ---------------------------------------------------------------
local pool, cursor, deadline, started = {}, 1, 0, false
sent, received, body_bytes, first_sent, last_received = 0, 0, 0, 0, 0
statuses = {}

function init(args)
  local path, seconds, thread_total = args[1], tonumber(args[2]), tonumber(args[3] or "1")
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local pos = 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    pool[#pool + 1] = data:sub(newline + 1, newline + length)
    pos = newline + length + 1
  end
  -- Threads start at different places so they do not walk the same users in step.
  cursor = math.floor((thread_index or 0) * #pool / thread_total) + 1
  deadline = now() + seconds
end

function delay()
  started = true
  if now() >= deadline then
    return 3600000 -- past the deadline: never send again, let the answers come in
  end
  return 0
end

function request()
  -- wrk calls request() once before the run to check it (thread 0): not a real send.
  if not started then return pool[cursor] end
  if sent == 0 then first_sent = now() end
  sent = sent + 1
  local raw = pool[cursor]
  cursor = cursor + 1
  if cursor > #pool then cursor = 1 end
  return raw
end

function response(status, headers, body)
  received = received + 1
  body_bytes = body_bytes + #body
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  last_received = now()
end

function done(summary, latency, requests)
  local total = { sent = 0, received = 0, body_bytes = 0, first = math.huge, last = 0 }
  local merged = {}
  for _, thread in ipairs(threads) do
    total.sent = total.sent + thread:get("sent")
    total.received = total.received + thread:get("received")
    total.body_bytes = total.body_bytes + thread:get("body_bytes")
    local first, last = thread:get("first_sent"), thread:get("last_received")
    if first > 0 and first < total.first then total.first = first end
    if last > total.last then total.last = last end
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    parts[#parts + 1] = string.format('"%s":%d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"sent":%d,"received":%d,"body_bytes":%d,"window_s":%.6f,' ..
    '"completed":%d,' ..
    '"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    total.sent, total.received, total.body_bytes, math.max(0, total.last - total.first), summary.requests,
    table.concat(parts, ","), errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
