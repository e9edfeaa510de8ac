-- wrk script: replays pre-generated encrypted and signed Feishu pushes (one per line in
-- $BENCH_BODIES: timestamp, nonce, signature, body — tab-separated), each a distinct event.
local reqs = {}
local i = 0

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
end

request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
