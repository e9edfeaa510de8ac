/**
 * An A/B of two relay trees on the durable webhook path, built so that this machine's drift (±30% within
 * minutes, seconds apart at times) falls on both sides. `bench/relay.ts` starts a fresh relay per run,
 * so two runs of it compare two moments as much as two trees: a change of 5% needed dozens of
 * alternating pairs to show. Here both relays run for the whole bench, each with one user and its
 * acking plugin stand-in, and wrk loads them in short windows:
 *
 *   - alternate (default): one relay at a time, A B then B A, so a pair is seconds apart and a steady
 *     drift cancels to first order. The load is the real one (c=64, a relay alone on the machine),
 *     so throughput and CPU both mean what they mean in bench/relay.ts;
 *   - concurrent: both at once, half the connections each. Drift is common to both sides, so the
 *     ratio is the steadiest, but they compete for two cores: it weighs CPU per event, not how a relay
 *     alone uses the time its main thread waits (an fsync inline on the loop looks better here than
 *     it is alone);
 *   - latency (`--rate N`): alternate windows of an open-loop client at N events/s instead of wrk
 *     (bench/open-loop.ts, as bench/latency.ts sends), each plugin stand-in acking every message;
 *     reported: webhook → plugin p50/p99 of each side per window and pooled over all windows, and the
 *     B/A ratios of the p99s. A single p99 of a fresh relay moves ±50% from one minute to the next
 *     here; pooled over windows seconds apart, both sides see the same minutes.
 *
 *   bun bench/ab.ts --a DIR --b DIR [--a-env JSON] [--b-env JSON] [--mode alternate|concurrent]
 *                   [--windows 10] [--window 3] [--connections 64] [--rate N [--inflight 32]]
 *
 * A tree is a checkout with node_modules (e.g. `git archive HEAD | tar -x -C /tmp/b`, then
 * `ln -s "$PWD/node_modules" /tmp/b/`); --a-env/--b-env add environment (a patched tree's knob, a JSC
 * option); the same tree twice with different env is an A/B of the knob. Reported: per window events/s
 * and relay CPU µs/event of each side; the B/A ratio of events per pair, their median, and the ratios
 * of totals. An A/A run of this script gave pair ratios within ±5–10% (concurrent) and ±15%
 * (alternate). Everything on 127.0.0.1; bounded; stops by itself. The throughput modes need `wrk`.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  benchOpenId,
  cpuMeter,
  createUsers,
  type Dist,
  dist,
  median,
  Plugins,
  type RelayProcess,
  report,
  round3,
  runWrk,
  startRelay,
  type WrkResult,
  webhookEvent,
} from "./lib.ts";
import { openLoop } from "./open-loop.ts";

const { values } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string" },
    "a-env": { type: "string", default: "{}" },
    "b-env": { type: "string", default: "{}" },
    mode: { type: "string", default: "alternate" },
    windows: { type: "string", default: "10" },
    window: { type: "string", default: "3" },
    connections: { type: "string", default: "64" },
    rate: { type: "string" },
    inflight: { type: "string", default: "32" },
  },
});
if (!values.a || !values.b) throw new Error("--a DIR and --b DIR are required (relay trees)");
const mode = values.mode === "concurrent" ? "concurrent" : "alternate";
const envOf = (json: string | undefined) => JSON.parse(json ?? "{}") as Record<string, string>;
const envs = { A: envOf(values["a-env"]), B: envOf(values["b-env"]) };
const windows = Number(values.windows);
const windowSec = Number(values.window);
const connections = Number(values.connections);
const rate = values.rate ? Number(values.rate) : undefined;
const maxInflight = Number(values.inflight);

interface Side {
  name: "A" | "B";
  relay: RelayProcess;
  plugins: Plugins;
  requests: number;
  cpuUs: number;
}

async function start(name: Side["name"], root: string): Promise<Side> {
  const relay = await startRelay({ root, env: envs[name] });
  const tokens = await createUsers(relay.base, [benchOpenId(0)], 1);
  // The latency mode acks every message, as the real plugin does once a message is handled.
  const plugins = new Plugins({ ackEvery: rate ? 1 : 100, latency: rate !== undefined });
  await plugins.connect(relay.ws, tokens);
  return { name, relay, plugins, requests: 0, cpuUs: 0 };
}

/** Loads one side for a window; returns its requests and the relay's CPU µs over it. */
async function load(side: Side, conns: number, w: number): Promise<{ r: WrkResult; cpuUs: number }> {
  const cpu = cpuMeter(side.relay.pid);
  const r = await runWrk({
    url: side.relay.base,
    script: join(import.meta.dir, "webhook-users.lua"),
    connections: conns,
    durationSec: windowSec,
    // Fresh event ids in every window: a repeated id would be a (cheaper) duplicate.
    env: { BENCH_USERS: "1", BENCH_RUN: `${Date.now()}${side.name}${w}` },
  });
  const cpuUs = cpu.stop().relayCores * windowSec * 1e6;
  side.requests += r.requests;
  side.cpuUs += cpuUs;
  return { r, cpuUs };
}

type Sides = readonly [Side, Side];

/** ABBA: whichever side went second in one pair goes first in the next. */
const abba = (sides: Sides, w: number): readonly Side[] => (w % 2 === 0 ? sides : [...sides].reverse());

/** Throughput: wrk in alternating (or concurrent) windows; events/s and CPU per event. */
async function throughputAB(sides: Sides): Promise<void> {
  type Load = Awaited<ReturnType<typeof load>>;
  const perSide = (x: Load) => ({
    eventsPerSec: Math.round(x.r.rps),
    cpuUsPerEvent: Math.round(x.cpuUs / Math.max(1, x.r.requests)),
    non2xx: x.r.non2xx,
  });
  const pairs: Array<{
    window: number;
    a: ReturnType<typeof perSide>;
    b: ReturnType<typeof perSide>;
    ratio: number;
  }> = [];
  try {
    for (let w = 0; w < windows; w++) {
      const out = new Map<Side["name"], Load>();
      if (mode === "concurrent") {
        const half = Math.max(1, Math.round(connections / 2));
        const both = await Promise.all(sides.map((s) => load(s, half, w)));
        for (const [i, s] of sides.entries()) out.set(s.name, both[i]!);
      } else {
        for (const s of abba(sides, w)) out.set(s.name, await load(s, connections, w));
      }
      const a = out.get("A")!;
      const b = out.get("B")!;
      const pair = {
        window: w + 1,
        a: perSide(a),
        b: perSide(b),
        ratio: round3(b.r.requests / Math.max(1, a.r.requests)),
      };
      pairs.push(pair);
      console.error(
        `window ${w + 1}: A ${pair.a.eventsPerSec}/s ${pair.a.cpuUsPerEvent} µs/event, ` +
          `B ${pair.b.eventsPerSec}/s ${pair.b.cpuUsPerEvent} µs/event, B/A ${pair.ratio}`,
      );
    }
  } finally {
    await stop(sides);
  }

  const [A, B] = sides;
  const ratios = pairs.map((p) => p.ratio);
  const summary = {
    mode,
    windows,
    windowSec,
    connections,
    a: { root: values.a, env: envs.A },
    b: { root: values.b, env: envs.B },
    pairs,
    medianRatio: round3(median(ratios)),
    ratioRange: [Math.min(...ratios), Math.max(...ratios)],
    totalRatio: round3(B.requests / Math.max(1, A.requests)),
    cpuPerEventRatio: round3(B.cpuUs / Math.max(1, B.requests) / (A.cpuUs / Math.max(1, A.requests))),
  };
  report(
    summary,
    `B/A events: median of ${windows} pairs ${summary.medianRatio} (${summary.ratioRange.join("–")}), ` +
      `totals ${summary.totalRatio}; B/A CPU per event ${summary.cpuPerEventRatio} (${mode})`,
  );
}

/** One open-loop window against a side: webhook → plugin latencies of the events it sent. */
async function latencyWindow(side: Side, rate: number, tag: string, seconds: number): Promise<Float64Array> {
  const events = Math.round(rate * seconds);
  side.plugins.resetLatencies();
  const before = side.plugins.received;
  const url = `${side.relay.base}/api/feishu/webhook`;
  const phase = await openLoop(url, (i, at) => webhookEvent(`${tag}_${i}`, benchOpenId(0), at), events, {
    rate,
    maxInflight,
  });
  await side.plugins.drain(before + phase.sent, 1000, 5000);
  side.requests += phase.sent;
  if (phase.errors || phase.notSent)
    console.error(`${side.name} ${tag}: ${phase.errors} errors, ${phase.notSent} not sent`);
  return side.plugins.latencies().slice();
}

/** Latency: open-loop windows at --rate, A B then B A; p99 per window and pooled. */
async function latencyAB(sides: Sides, rate: number): Promise<void> {
  const run = String(Date.now());
  for (const s of sides) await latencyWindow(s, rate, `${run}${s.name}w`, 1);
  const pooled = { A: [] as number[], B: [] as number[] };
  const pairs: Array<{ window: number; a: Dist; b: Dist; p99Ratio: number }> = [];
  try {
    for (let w = 0; w < windows; w++) {
      const out = new Map<Side["name"], Dist>();
      for (const s of abba(sides, w)) {
        const lat = await latencyWindow(s, rate, `${run}${s.name}${w}`, windowSec);
        for (const x of lat) pooled[s.name].push(x);
        out.set(s.name, dist(lat));
      }
      const a = out.get("A")!;
      const b = out.get("B")!;
      const pair = { window: w + 1, a, b, p99Ratio: round3(b.p99 / Math.max(0.001, a.p99)) };
      pairs.push(pair);
      console.error(
        `window ${w + 1}: A p50 ${a.p50} p99 ${a.p99} ms, B p50 ${b.p50} p99 ${b.p99} ms, B/A p99 ${pair.p99Ratio}`,
      );
    }
  } finally {
    await stop(sides);
  }
  const A = dist(pooled.A);
  const B = dist(pooled.B);
  const ratios = pairs.map((p) => p.p99Ratio);
  const summary = {
    mode: "latency",
    rate,
    windows,
    windowSec,
    a: { root: values.a, env: envs.A, pooled: A },
    b: { root: values.b, env: envs.B, pooled: B },
    pairs,
    medianP99Ratio: round3(median(ratios)),
    pooledP99Ratio: round3(B.p99 / Math.max(0.001, A.p99)),
    pooledP50Ratio: round3(B.p50 / Math.max(0.001, A.p50)),
  };
  report(
    summary,
    `B/A webhook→plugin p99 at ${rate}/s: median of ${windows} pairs ${summary.medianP99Ratio} ` +
      `(${Math.min(...ratios)}–${Math.max(...ratios)}); pooled A p50 ${A.p50} p99 ${A.p99} ms, ` +
      `B p50 ${B.p50} p99 ${B.p99} ms: p99 ratio ${summary.pooledP99Ratio}, p50 ratio ${summary.pooledP50Ratio}`,
  );
}

async function stop(sides: Sides): Promise<void> {
  for (const s of sides) {
    s.plugins.close();
    await s.relay.stop();
  }
}

const sides: Sides = [await start("A", values.a), await start("B", values.b)];
if (rate !== undefined) await latencyAB(sides, rate);
else await throughputAB(sides);
