/**
 * The plugin's client against the real relay when its address is over the failed-auth limit: the
 * refused upgrade (HTTP 429) is retried with back-off, never reported as a terminal 4001; once the
 * window passes, the relay looks at the token again and only then says 4001.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { RelayClient, type StatusPatch, type WebSocketCtor } from "../../plugin/src/relay-client.ts";
import { CloseCode } from "../../src/relay/protocol.ts";
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS } from "../../src/users/tokens.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect } from "../relay/ws-client.ts";

const clock = { t: Date.now() };
const r = await gatewayRelay({}, { now: () => clock.t });
afterAll(() => r.close());

const NAT = "192.0.2.200";

/** Bun's WebSocket, as seen through the same-host proxy from the NAT's address. */
const ViaNat = class extends WebSocket {
  constructor(url: string, init?: { headers?: Record<string, string> }) {
    super(url, { headers: { ...init?.headers, "x-forwarded-for": NAT } } as unknown as string[]);
  }
} as unknown as WebSocketCtor;

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

describe("plugin client over the failed-auth limit", () => {
  test("a refused upgrade is retried, not terminal; 4001 only once the token itself was judged", async () => {
    for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) {
      const c = connect(`${r.url}?token=bad`, { headers: { "x-forwarded-for": NAT } });
      expect((await c.closed).code).toBe(CloseCode.unauthorized);
    }
    const patches: StatusPatch[] = [];
    const waiters: Array<{ pred: (p: StatusPatch) => boolean; resolve: () => void }> = [];
    const seen = (pred: (p: StatusPatch) => boolean) =>
      new Promise<void>((resolve) => {
        if (patches.some(pred)) resolve();
        else waiters.push({ pred, resolve });
      });
    const client = new RelayClient({
      url: r.url,
      token: "not-a-valid-token",
      log: quiet,
      onMessage: async () => {},
      onStatus: (p) => {
        patches.push(p);
        for (const w of waiters) if (w.pred(p)) w.resolve();
      },
      backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
      WebSocket: ViaNat,
    });
    const abort = new AbortController();
    const running = client.run(abort.signal);
    try {
      await seen((p) => (p.reconnectAttempts ?? 0) >= 2);
      expect(patches.some((p) => p.terminalDisconnect)).toBe(false);
      expect(patches.find((p) => p.lastDisconnect)?.lastDisconnect?.status).not.toBe(CloseCode.unauthorized);

      clock.t += AUTH_FAILURE_WINDOW_MS + 1000;
      await seen((p) => p.terminalDisconnect === true);
      expect(patches.at(-1)).toMatchObject({ lifecycle: "blocked" });
      expect(patches.findLast((p) => p.lastDisconnect)?.lastDisconnect?.status).toBe(CloseCode.unauthorized);
    } finally {
      abort.abort();
      await running;
    }
  });
});
