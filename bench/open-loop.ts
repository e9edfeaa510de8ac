/**
 * An open-loop client: events posted at a fixed rate on a schedule set in advance, never waiting for
 * one answer before the next send (up to `maxInflight` keep-alive fetches outstanding), so a slow
 * server shows as latency rather than as a slower client. Shared by bench/latency.ts and
 * bench/ab-latency.ts.
 */
import { wallMs } from "./lib.ts";

/** How far past the end of its schedule the client keeps sending before it gives up. */
const LATE_LIMIT_MS = 3000;

export interface Phase {
  answers: number[];
  lags: number[];
  errors: number;
  sent: number;
  /** Scheduled sends dropped because the client fell more than LATE_LIMIT_MS behind. */
  notSent: number;
}

export interface OpenLoopOptions {
  /** Events per second. */
  rate: number;
  maxInflight: number;
}

/**
 * Sends `count` events at `rate`/s from `t0` (scheduled times t0 + i/rate). A send that finds
 * `maxInflight` requests outstanding waits for a free slot; its lateness shows in `lags`.
 */
export async function openLoop(
  url: string,
  body: (i: number, sentAt: number) => string,
  count: number,
  { rate, maxInflight }: OpenLoopOptions,
): Promise<Phase> {
  const phase: Phase = { answers: [], lags: [], errors: 0, sent: 0, notSent: 0 };
  const interval = 1000 / rate;
  const t0 = wallMs() + 5;
  // Bounded in time too: a server that cannot keep up leaves the rest of the schedule unsent.
  const stopAt = t0 + count * interval + LATE_LIMIT_MS;
  let inflight = 0;
  let slotFreed: (() => void) | undefined;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + i * interval;
    let now = wallMs();
    if (now < due - 0.5) {
      await Bun.sleep(Math.max(0, due - now - 0.5));
      now = wallMs();
    }
    while (inflight >= maxInflight) await new Promise<void>((r) => (slotFreed = r));
    const sentAt = wallMs();
    if (sentAt > stopAt) {
      phase.notSent = count - i;
      break;
    }
    phase.lags.push(Math.max(0, sentAt - due));
    inflight++;
    phase.sent++;
    const p = post(url, body(i, sentAt))
      .then((status) => {
        if (status === 200) phase.answers.push(wallMs() - sentAt);
        else phase.errors++;
      })
      .catch(() => {
        phase.errors++;
      })
      .finally(() => {
        inflight--;
        slotFreed?.();
        slotFreed = undefined;
      });
    pending.push(p);
  }
  await Promise.race([Promise.all(pending), Bun.sleep(10_000)]);
  return phase;
}

async function post(url: string, body: string): Promise<number> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  await res.arrayBuffer();
  return res.status;
}
