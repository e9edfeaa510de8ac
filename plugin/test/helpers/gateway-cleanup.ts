/** What the gateway tests share: fast client timings, and stopping what a test started. */
import { afterEach } from "bun:test";
import type { createFeishuRelayPlugin } from "../../src/channel.ts";

/** Client timings that keep reconnects and timeouts within a test's budget. */
export const FAST_CLIENT = {
  backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
  helloTimeoutMs: 1000,
  sendTimeoutMs: 1500,
};

/**
 * Stops, after each test, what it pushed (accounts, in order), then `last` (its fake relay):
 * accounts close their sockets before the relay goes.
 */
export function stopsAfterEach(last: () => void): Array<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    last();
  });
  return stops;
}

/** The gateway's own stop: abort the account, then wait for `startAccount` to return. */
export interface RunningAccount {
  running: Promise<unknown>;
  stop(): Promise<void>;
}

/** Starts the plugin's account on `gw`; it is stopped after the test with the other `stops`. */
export function runAccount(
  plugin: ReturnType<typeof createFeishuRelayPlugin>,
  gw: { ctx: unknown; abort: AbortController },
  stops: Array<() => Promise<void>>,
): RunningAccount {
  const running = plugin.gateway!.startAccount!(gw.ctx as never) as Promise<unknown>;
  const stop = async () => {
    gw.abort.abort();
    await running;
  };
  stops.push(stop);
  return { running, stop };
}
