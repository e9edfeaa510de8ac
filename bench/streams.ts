/**
 * Streaming cards under load (M2-3), fake Feishu and relay each in their own process on 127.0.0.1,
 * default limits:
 *   (a) baseline: every user sends one final reply at once, no streams running;
 *   (b) `--streams` users each draft every `--every` ms for `--seconds`, then send their final with
 *       the stream's id; halfway through, every user also sends one ordinary final reply (what a
 *       final costs while streams run);
 * measured: finals' delay (send frame → `sent`), card calls per second from the fake's op log
 * (max per card per second, app-wide per second and per minute; Feishu allows 10/s per card and
 * 50/s, 1000/min per app), the relay's card-update counters and its CPU. Bounded; stops by itself.
 *
 *   bun bench/streams.ts [--streams 200] [--every 100] [--seconds 10]
 */
import { parseArgs } from "node:util";
import { startFakeProcess } from "./fake-process.ts";
import { benchOpenId, commandLine, cpuMeter, createUsers, dist, metricSum, startRelay } from "./lib.ts";

const { values } = parseArgs({
  options: {
    streams: { type: "string", default: "200" },
    every: { type: "string", default: "100" },
    seconds: { type: "string", default: "10" },
  },
});
const STREAMS = Number(values.streams);
const EVERY_MS = Number(values.every);
const SECONDS = Number(values.seconds);
const FINAL_TIMEOUT_MS = 120_000;

interface CardOp {
  cardId: string;
  op: string;
  code: number;
  at: number;
}

/** A minimal plugin: sends frames, resolves a frame id's final answer (`sent` or `error`). */
class BenchPlugin {
  readonly #answers = new Map<string, (f: Record<string, unknown>) => void>();
  readonly ws: WebSocket;
  readonly ready: Promise<void>;
  errors = 0;

  constructor(url: string, token: string) {
    this.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
    this.ready = new Promise((resolve, reject) => {
      this.ws.onerror = () => reject(new Error("plugin socket failed"));
      this.ws.onmessage = (e) => {
        const f = JSON.parse(String(e.data)) as Record<string, unknown>;
        if (f.type === "hello") resolve();
        if (f.type === "error") this.errors++;
        if (typeof f.id === "string" && f.type !== "queued") this.#answers.get(f.id)?.(f);
      };
    });
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends a `send` frame; resolves with its delay in ms (send → sent). */
  final(frame: Record<string, unknown>): Promise<number> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${frame.id}`)), FINAL_TIMEOUT_MS);
      this.#answers.set(String(frame.id), (f) => {
        clearTimeout(timer);
        if (f.type === "sent") resolve(performance.now() - t0);
        else reject(new Error(`${frame.id}: ${JSON.stringify(f)}`));
      });
      this.send({ type: "send", ...frame });
    });
  }
}

/** The largest number of `times` (ms) inside any window of `windowMs`. */
function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const fake = await startFakeProcess();
const relay = await startRelay({
  env: { FEISHU_APP_ID: fake.appId, FEISHU_APP_SECRET: fake.appSecret, FEISHU_DOMAIN: fake.url },
});

try {
  const openIds = Array.from({ length: STREAMS }, (_, i) => benchOpenId(i));
  const tokens = await createUsers(relay.base, openIds);
  const plugins = tokens.map((t) => new BenchPlugin(relay.ws, t));
  await Promise.all(plugins.map((p) => p.ready));

  // (a) baseline: one final per user at once, nothing streaming.
  const baseline = await Promise.all(
    plugins.map((p, i) =>
      p.final({ id: `b${i}`, msgType: "markdown", text: `baseline answer ${i}`, uuid: `b${i}` }),
    ),
  );
  await Bun.sleep(2000); // let the per-second windows empty

  // (b) streams, with an ordinary final per user halfway through.
  const cpu = cpuMeter(relay.pid);
  const t0 = Date.now();
  const drafts = Math.max(1, Math.round((SECONDS * 1000) / EVERY_MS));
  const during: Array<Promise<number>> = [];
  const streamFinals = await Promise.all(
    plugins.map(async (p, i) => {
      const streamId = `bench:${i}`;
      // Spread the starts over one interval, as real answers would be.
      await Bun.sleep((i * EVERY_MS) / STREAMS);
      let text = "";
      for (let n = 1; n <= drafts; n++) {
        text += `word${n} `;
        p.send({ type: "draft", id: `d${i}-${n}`, streamId, text });
        if (n === Math.floor(drafts / 2))
          during.push(p.final({ id: `m${i}`, msgType: "markdown", text: `meanwhile ${i}`, uuid: `m${i}` }));
        await Bun.sleep(EVERY_MS);
      }
      return p.final({
        id: `f${i}`,
        msgType: "markdown",
        text: `${text}\n\n**done**`,
        streamId,
        uuid: `f${i}`,
      });
    }),
  );
  const meanwhile = await Promise.all(during);
  const wallSec = (Date.now() - t0) / 1000;
  const usage = cpu.stop();

  const ops = (await (await fetch(`${fake.url}/_fake/card-ops`)).json()) as CardOp[];
  const cards = (await (await fetch(`${fake.url}/_fake/cards`)).json()) as Array<{
    streaming: boolean;
    elements: Record<string, string>;
  }>;
  const accepted = ops.filter((o) => o.code === 0 && o.op !== "send");
  const byCard = new Map<string, number[]>();
  for (const o of accepted) byCard.set(o.cardId, [...(byCard.get(o.cardId) ?? []), o.at]);
  const perCardMax = Math.max(0, ...[...byCard.values()].map((t) => maxInWindow(t, 1000)));
  const all = accepted.map((o) => o.at);
  const metrics = await relay.metrics();
  const counter = (outcome: string) =>
    metricSum(
      metrics
        .split("\n")
        .filter((l) => l.includes(`outcome="${outcome}"`))
        .join("\n"),
      "stream_card_updates_total",
    );
  const ms = (xs: number[]) => {
    const d = dist(xs);
    return { p50: Math.round(d.p50), p90: Math.round(d.p90), max: Math.round(d.max) };
  };
  const result = {
    command: commandLine("bench/streams.ts", { streams: STREAMS, every: EVERY_MS, seconds: SECONDS }),
    streams: STREAMS,
    draftsPerStream: drafts,
    wallSec: Math.round(wallSec * 10) / 10,
    finalDelayMs: {
      baselineNoStreams: ms(baseline),
      ordinaryWhileStreaming: ms(meanwhile),
      streamFinals: ms(streamFinals),
    },
    cardCalls: {
      accepted: accepted.length,
      refused: ops.filter((o) => o.code !== 0).length,
      maxPerCardPerSecond: perCardMax,
      maxAppPerSecond: maxInWindow(all, 1000),
      maxAppPerMinute: maxInWindow(all, 60_000),
      meanPerSecond: Math.round((accepted.length / wallSec) * 10) / 10,
    },
    relayCounters: {
      updatesSent: counter("sent"),
      coalesced: counter("coalesced"),
      throttled: counter("throttled"),
      failed: counter("failed"),
    },
    cardsFinal: cards.filter((c) => !c.streaming && c.elements.content?.endsWith("**done**")).length,
    pluginErrors: plugins.reduce((n, p) => n + p.errors, 0),
    relayCpu: usage,
  };
  console.log(JSON.stringify(result, null, 2));
  const f = result.finalDelayMs;
  const c = result.cardCalls;
  console.log(
    [
      "",
      "| measure | value |",
      "|---|---|",
      `| final delay p50/p90/max, no streams (ms) | ${f.baselineNoStreams.p50} / ${f.baselineNoStreams.p90} / ${f.baselineNoStreams.max} |`,
      `| ordinary final while ${STREAMS} stream (ms) | ${f.ordinaryWhileStreaming.p50} / ${f.ordinaryWhileStreaming.p90} / ${f.ordinaryWhileStreaming.max} |`,
      `| stream final into its card (ms) | ${f.streamFinals.p50} / ${f.streamFinals.p90} / ${f.streamFinals.max} |`,
      `| card calls accepted / refused | ${c.accepted} / ${c.refused} |`,
      `| max card calls per card per second (≤ 10) | ${c.maxPerCardPerSecond} |`,
      `| max card calls app-wide per second (≤ 50) | ${c.maxAppPerSecond} |`,
      `| max card calls app-wide per minute (≤ 1000) | ${c.maxAppPerMinute} |`,
      `| updates sent / coalesced drafts / throttled | ${result.relayCounters.updatesSent} / ${result.relayCounters.coalesced} / ${result.relayCounters.throttled} |`,
      `| cards ending with the final / streams | ${result.cardsFinal} / ${STREAMS} |`,
      `| relay CPU (cores) | ${usage.relayCores} |`,
    ].join("\n"),
  );
  for (const p of plugins) p.ws.close();
} finally {
  await relay.stop();
  await fake.stop();
}
