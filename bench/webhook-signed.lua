-- wrk script: replays pre-generated encrypted and signed Feishu pushes (one per line in
-- $BENCH_BODIES: timestamp, nonce, signature, body — tab-separated), each a distinct event.
-- Every answer that is not 2xx is counted by status, and the first body of each status is kept,
-- so a failing run says what the relay answered (printed by `done` as "status <code>: <n> <body>").
local reqs = {}
local i = 0
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    local ts, nonce, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/api/feishu/webhook", {
      ["Content-Type"] = "application/json;charset=utf-8",
      ["X-Lark-Request-Timestamp"] = ts,
      ["X-Lark-Request-Nonce"] = nonce,
      ["X-Lark-Signature"] = sig,
    }, body)
  end
  bad = {}
  badBody = {}
end

request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end

response = function(status, headers, body)
  if status < 200 or status > 299 then
    bad[status] = (bad[status] or 0) + 1
    if badBody[status] == nil then badBody[status] = string.sub(body or "", 1, 300) end
  end
end

done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local b = thread:get("bad")
    local bodies = thread:get("badBody")
    for status, n in pairs(b) do
      io.write(string.format("status %d: %d %s\n", status, n, bodies[status] or ""))
    end
  end
end
