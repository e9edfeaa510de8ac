-- wrk script: unique im.message.receive_v1 events (v2 envelope, plaintext, p2p), the sender picked
-- round-robin per request among BENCH_USERS users (open_id BENCH_PREFIX .. n % BENCH_USERS). Each
-- request gets its own random-looking event_id (32 hex digits) and message_id ("om_" + 32 hex digits),
-- like Feishu's: random keys cost the unique indexes more than increasing ones would. Its text ends with "bench@<µs since the epoch>" taken just before the request is built,
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

local seeded = false
-- 32 hex digits from four 28-bit draws and the counter: unique within a run, random-looking.
local function hex_id()
  if not seeded then
    local seed = (bench_thread or 0) * 7919
    for i = 1, #run do seed = (seed * 31 + string.byte(run, i)) % 2147483647 end
    math.randomseed(seed)
    seeded = true
  end
  return string.format("%07x%07x%07x%04x%07x", math.random(0, 0xfffffff), math.random(0, 0xfffffff),
    math.random(0, 0xfffffff), (bench_thread or 0) % 0x10000, counter % 0x10000000)
end

request = function()
  local sender = prefix .. (counter % users)
  counter = counter + 1
  local event_id = hex_id()
  local message_id = "om_" .. hex_id()
  local content = '{\\"text\\":\\"hello relay, a typical short chat message bench@' .. now_us() .. '\\"}'
  local body = '{"schema":"2.0","header":{"event_id":"' .. event_id .. '","event_type":"im.message.receive_v1",' ..
    '"create_time":"1700000000000","token":"","app_id":"cli_a1b2c3d4e5f60718","tenant_key":"t"},' ..
    '"event":{"sender":{"sender_id":{"open_id":"' .. sender .. '"},"sender_type":"user","tenant_key":"t"},' ..
    '"message":{"message_id":"' .. message_id .. '","chat_id":"oc_bench","chat_type":"p2p","message_type":"text",' ..
    '"content":"' .. content .. '","create_time":"1700000000000"}}}'
  return wrk.format("POST", "/api/feishu/webhook", { ["Content-Type"] = "application/json" }, body)
end
