/**
 * The relay's hot path under load, reported as a ratio to this machine's bare limit measured in the
 * same run (../shared/bench-limit): wrk POSTs unique Feishu events to /api/feishu/webhook; each is
 * deduplicated, stored durably (WAL, synchronous=FULL, group commit) and pushed to a connected plugin
 * that acks. Everything on 127.0.0.1; bounded duration; stops by itself.
 *
 *   bun bench/relay.ts [--duration 8] [--connections 64]
 *
 * Needs `wrk` (apt-get install -y wrk).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { duration: { type: "string", default: "8" }, connections: { type: "string", default: "64" } },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const root = join(import.meta.dir, "..");
const limitDir = join(root, "../shared/bench-limit");
const admin = "bench-admin-token-0123456789";

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const p = s.port ?? 0;
  s.stop(true);
  return p;
}

async function waitFor(url: string, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`not up: ${url}`);
}

function wrk(url: string, script: string, env: Record<string, string> = {}) {
  const p = Bun.spawnSync(
    ["wrk", "-t1", `-c${connections}`, `-d${duration}s`, "--latency", "-s", script, url],
    {
      env: { ...process.env, ...env },
    },
  );
  const out = p.stdout.toString();
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const latency = /Latency\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?";
  const p99 = /99%\s+([\d.]+\w+)/.exec(out)?.[1] ?? "?";
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, latency, p99, non2xx, raw: out };
}

/** A plugin stand-in: counts message frames and acks every 100. */
function subscriber(url: string, token: string) {
  let count = 0;
  let lastSeq = 0;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
  ws.onmessage = (e) => {
    const f = JSON.parse(String(e.data)) as { type: string; seq?: number };
    if (f.type !== "message") return;
    count++;
    lastSeq = f.seq ?? lastSeq;
    if (count % 100 === 0) ws.send(JSON.stringify({ type: "ack", seq: lastSeq }));
  };
  const open = new Promise((r) => (ws.onopen = r));
  return { open, count: () => count, close: () => ws.close() };
}

async function measureRelay() {
  const dir = mkdtempSync(join(tmpdir(), "relay-bench-"));
  const port = await freePort();
  const relay = Bun.spawn(["bun", join(root, "src/index.ts"), "serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_PATH: join(dir, "relay.db"),
      ADMIN_TOKEN: admin,
      LOG_LEVEL: "warn",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`${base}/health`);
    const created = (await (
      await fetch(`${base}/api/admin/users`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ openId: "ou_bench_user", name: "Bench" }),
      })
    ).json()) as { token: string };
    const sub = subscriber(`ws://127.0.0.1:${port}/openclaw`, created.token);
    await sub.open;
    const r = wrk(base, join(import.meta.dir, "webhook.lua"), { BENCH_RUN: String(Date.now()) });
    // Let delivery finish: wait until the plugin's count stops growing (bounded).
    const drainStart = performance.now();
    for (let last = -1; sub.count() !== last && performance.now() - drainStart < 15_000; ) {
      last = sub.count();
      await Bun.sleep(300);
    }
    const rss = await memoryOf(relay.pid);
    const metrics = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } })
    ).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(metrics)?.[1] ?? 0);
    const stored = metric("inbox_stored_total");
    const deliveredByRelay = metric("messages_delivered_total");
    sub.close();
    return { ...r, delivered: sub.count(), stored, deliveredByRelay, rssMb: rss };
  } finally {
    relay.kill("SIGTERM");
    await relay.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureLimit() {
  const port = await freePort();
  const server = Bun.spawn(["bun", join(limitDir, "group.ts"), String(port), "FULL"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  await Bun.sleep(300);
  const sub = Bun.spawn(["bun", join(limitDir, "sub.ts"), String(port)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  await Bun.sleep(300);
  try {
    return wrk(`http://127.0.0.1:${port}/`, join(limitDir, "post.lua"));
  } finally {
    sub.kill("SIGTERM");
    server.kill("SIGTERM");
    await Promise.all([sub.exited, server.exited]);
    rmSync(`/tmp/limit-${port}.db`, { force: true });
    rmSync(`/tmp/limit-${port}.db-wal`, { force: true });
    rmSync(`/tmp/limit-${port}.db-shm`, { force: true });
  }
}

async function memoryOf(pid: number): Promise<number> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

const limit = await measureLimit();
const relay = await measureRelay();
const result = {
  command: `bun bench/relay.ts --duration ${duration} --connections ${connections}`,
  limit: { eventsPerSec: limit.rps, meanLatency: limit.latency, p99: limit.p99 },
  relay: {
    eventsPerSec: relay.rps,
    meanLatency: relay.latency,
    p99: relay.p99,
    non2xx: relay.non2xx,
    stored: relay.stored,
    writtenToSocket: relay.deliveredByRelay,
    receivedByPlugin: relay.delivered,
    rssMb: relay.rssMb,
  },
  ratioToLimit: limit.rps ? Number((relay.rps / limit.rps).toFixed(3)) : null,
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `relay ${relay.rps.toFixed(0)} events/s (durable, FULL, delivered ${relay.delivered}) vs bare limit ${limit.rps.toFixed(0)}/s → ratio ${result.ratioToLimit}`,
);
