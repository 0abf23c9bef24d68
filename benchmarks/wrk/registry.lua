-- wrk script for benchmarks/registry_load.py (issue 13): a bounded number of requests, then stop.
--
--   wrk -t T -c C -d LIMIT -s registry.lua http://127.0.0.1:PORT -- file  REQUESTS_FILE MARKER_DIR
--   wrk -t T -c C -d LIMIT -s registry.lua http://127.0.0.1:PORT -- proof TREE_SIZE COUNT MARKER_DIR
--
-- "file": REQUESTS_FILE holds pre-signed requests, one a line: METHOD \t PATH \t BODY (\t NAME \t VALUE)*.
-- Thread k of T sends lines k, k+T, k+2T, ... once each (every request is a distinct signed request with its
-- own nonce: nothing is replayed), formatted before the clock starts. "proof": COUNT GET /proof/inclusion
-- for random indexes of the tree of TREE_SIZE. A thread writes MARKER_DIR/sent.<k> when its share is sent and
-- MARKER_DIR/done.<k> when it is answered, then stops; the Python side sends SIGINT when every thread is done
-- or a grace period after the last share was sent (wrk otherwise sleeps for all of -d; a request on a
-- connection that breaks is not answered and is reported as lost), and done() prints one JSON line with the
-- counts and the wall time from the first request to the last answer.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } ww_timespec;
  int clock_gettime(int clk_id, ww_timespec *tp);
]]
local ts = ffi.new("ww_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: comparable across threads
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function split(line)
  local fields = {}
  local start = 1
  while true do
    local tab = string.find(line, "\t", start, true)
    if tab == nil then
      table.insert(fields, string.sub(line, start))
      return fields
    end
    table.insert(fields, string.sub(line, start, tab - 1))
    start = tab + 1
  end
end

function init(args)
  mode = args[1]
  nthreads = tonumber(os.getenv("WW_WRK_THREADS") or "1")
  reqs = {}
  sent, granted, answered, status_2xx, acknowledged, extra = 0, 0, 0, 0, 0, 0
  statuses = {}
  first_us, last_us = 0, 0
  finished = false
  if mode == "file" then
    marker = args[3]
    local n = 0
    for line in io.lines(args[2]) do
      if n % nthreads == id then
        local f = split(line)
        local headers = {}
        for i = 4, #f, 2 do headers[f[i]] = f[i + 1] end
        table.insert(reqs, wrk.format(f[1], f[2], headers, f[3]))
      end
      n = n + 1
    end
    quota = #reqs
  else
    size = tonumber(args[2])
    local total = tonumber(args[3])
    quota = math.floor(total / nthreads) + ((id < total % nthreads) and 1 or 0)
    marker = args[4]
    math.randomseed(7 + id)
  end
  filler = wrk.format("GET", "/checkpoint", {}, nil)
end

function delay()
  -- called before each request of a connection (its first one too): a request is granted here, so that
  -- connections that ask at once cannot together send more than the share; once the share is granted a
  -- connection waits (longer than any run) instead of sending anything more
  if granted >= quota then return 86400000 end
  granted = granted + 1
  return 0
end

function request()
  if first_us == 0 then first_us = now_us() end
  sent = sent + 1
  if sent > granted then -- a connection that broke with a request in flight reconnects without delay()
    sent = sent - 1
    extra = extra + 1
    return filler
  end
  if sent == quota then
    local f = io.open(marker .. "/sent." .. id, "w")
    f:close()
  end
  if mode == "file" then return reqs[sent] end
  return wrk.format("GET", "/proof/inclusion?index=" .. math.random(0, size - 1) .. "&tree_size=" .. size, {}, nil)
end

function response(status, headers, body)
  if finished then return end
  if status == 200 and string.byte(body, 1) ~= 123 then return end -- "{": every real answer is JSON
  last_us = now_us()
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 and (mode == "file" or string.find(body, '"tree_size"', 1, true)) then
    status_2xx = status_2xx + 1 -- (a proof, not the answer to a filler request)
  end
  if status == 201 then
    acknowledged = acknowledged + 1
  elseif status == 200 and body ~= nil and string.find(body, '"results"', 1, true) then
    -- POST /entries/batch: one result per signed request inside
    local _, n = string.gsub(body, '"status":%s*201', "")
    acknowledged = acknowledged + n
  end
  if answered >= quota then
    finished = true
    local f = io.open(marker .. "/done." .. id, "w")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local first, last, answered_all, ok_all, acked_all, extra_all = nil, 0, 0, 0, 0, 0
  local codes = {}
  for _, t in ipairs(threads) do
    local f, l = t:get("first_us"), t:get("last_us")
    if f ~= nil and f > 0 and (first == nil or f < first) then first = f end
    if l ~= nil and l > last then last = l end
    answered_all = answered_all + (t:get("answered") or 0)
    ok_all = ok_all + (t:get("status_2xx") or 0)
    acked_all = acked_all + (t:get("acknowledged") or 0)
    extra_all = extra_all + (t:get("extra") or 0)
    for code, n in pairs(t:get("statuses") or {}) do codes[code] = (codes[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(codes) do table.insert(parts, string.format('"%d":%d', code, n)) end
  io.write(string.format(
    'WWRESULT {"answered":%d,"ok":%d,"acknowledged":%d,"first_us":%.0f,"last_us":%.0f,"statuses":{%s},' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"wrk_requests":%d,"errors":{"connect":%d,' ..
    '"read":%d,"write":%d,"timeout":%d},"extra":%d}\n',
    answered_all, ok_all, acked_all, first or 0, last, table.concat(parts, ","),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, extra_all))
end
