/** What the gateway tests share: fast client timings, and stopping what a test started. */
import { afterEach } from "bun:test";

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
