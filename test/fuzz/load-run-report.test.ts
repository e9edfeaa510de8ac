/** The load run's pass/fail figures come from wrk's text output: non-2xx answers and socket errors. */
import { expect, test } from "bun:test";
import { parseWrk, socketErrorCount } from "../../bench/lib.ts";

const WRK_OUT = `Running 3s test @ http://127.0.0.1:40000
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.30ms  20.00ms   90.00%
  Latency Distribution
     50%    1.90ms
     75%    2.50ms
     90%    3.10ms
     99%    8.00ms
  23083 requests in 3.10s, 3.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 8
Requests/sec:   7444.66
status 503: 8 {"error":{"code":"overloaded","message":"try again"}}
`;

test("non-2xx answers, socket errors and the statuses behind them are read from wrk's output", () => {
  const r = parseWrk(WRK_OUT);
  expect(r.requests).toBe(23083);
  expect(r.non2xx).toBe(8);
  expect(r.socketErrorCount).toBe(5);
  expect(r.badStatuses).toEqual([
    { status: 503, count: 8, body: '{"error":{"code":"overloaded","message":"try again"}}' },
  ]);
});

test("a clean run has no non-2xx line and no socket errors line: both count 0", () => {
  const clean = WRK_OUT.replace(/ {2}Socket errors.*\n/, "")
    .replace(/ {2}Non-2xx.*\n/, "")
    .replace(/status .*\n/, "");
  const r = parseWrk(clean);
  expect([r.non2xx, r.socketErrorCount, r.badStatuses.length]).toEqual([0, 0, 0]);
  expect(socketErrorCount("")).toBe(0);
});
