-- wrk script: unique im.message.receive_v1 events (v2 envelope, plaintext, p2p), the sender picked
-- round-robin per request among BENCH_USERS users (open_id BENCH_PREFIX .. n % BENCH_USERS). Each
-- request gets its own event_id and message_id (run id, wrk thread, counter) so none is deduplicated
-- away, and its text ends with "bench@<µs since the epoch>" taken just before the request is built,
-- so the plugin stand-in can compute webhook → plugin latency (same machine, same clock).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME
  return string.format("%.0f", tonumber(ts.tv_sec) * 1e6 + math.floor(tonumber(ts.tv_nsec) / 1000))
end

local users = tonumber(os.getenv("BENCH_USERS") or "1")
local prefix = os.getenv("BENCH_PREFIX") or "ou_bench_"
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local counter = 0
local thread_count = 0

function setup(thread)
  thread:set("bench_thread", thread_count)
  thread_count = thread_count + 1
end

request = function()
  local sender = prefix .. (counter % users)
  counter = counter + 1
  local id = run .. "_" .. (bench_thread or 0) .. "_" .. counter
  local content = '{\\"text\\":\\"hello relay, a typical short chat message bench@' .. now_us() .. '\\"}'
  local body = '{"schema":"2.0","header":{"event_id":"ev_' .. id .. '","event_type":"im.message.receive_v1",' ..
    '"create_time":"1700000000000","token":"","app_id":"cli_a1b2c3d4e5f60718","tenant_key":"t"},' ..
    '"event":{"sender":{"sender_id":{"open_id":"' .. sender .. '"},"sender_type":"user","tenant_key":"t"},' ..
    '"message":{"message_id":"om_' .. id .. '","chat_id":"oc_bench","chat_type":"p2p","message_type":"text",' ..
    '"content":"' .. content .. '","create_time":"1700000000000"}}}'
  return wrk.format("POST", "/api/feishu/webhook", { ["Content-Type"] = "application/json" }, body)
end
