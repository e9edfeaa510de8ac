-- wrk script: unique im.message.receive_v1 events (v2 envelope, plaintext) from one known sender.
-- Each request gets its own event_id and message_id so none is deduplicated away.
local counter = 0
local sender = os.getenv("BENCH_SENDER") or "ou_bench_user"
local run = os.getenv("BENCH_RUN") or tostring(os.time())

request = function()
  counter = counter + 1
  local id = run .. "_" .. counter
  local content = '{\\"text\\":\\"hello relay, a typical short chat message\\"}'
  local body = '{"schema":"2.0","header":{"event_id":"ev_' .. id .. '","event_type":"im.message.receive_v1",' ..
    '"create_time":"1700000000000","token":"","app_id":"cli_a1b2c3d4e5f60718","tenant_key":"t"},' ..
    '"event":{"sender":{"sender_id":{"open_id":"' .. sender .. '"},"sender_type":"user","tenant_key":"t"},' ..
    '"message":{"message_id":"om_' .. id .. '","chat_id":"oc_bench","chat_type":"p2p","message_type":"text",' ..
    '"content":"' .. content .. '","create_time":"1700000000000"}}}'
  return wrk.format("POST", "/api/feishu/webhook", { ["Content-Type"] = "application/json" }, body)
end
