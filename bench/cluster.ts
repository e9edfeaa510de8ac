/**
 * Storage and cluster cost on the durable webhook path, same run, same workload: the bare limit
 * (../shared/bench-limit), then the relay on SQLite (one process), on PostgreSQL with one node, and
 * on PostgreSQL with three nodes sharing one database. wrk POSTs unique events (sender round-robin
 * over --users users); every user's plugin is connected and acks. With three nodes, users' plugins
 * are spread over the nodes (user i on node i mod 3) and one wrk per node sends a third of the
 * connections, so most webhooks land on a node other than the one holding the sender's socket — the
 * cross-node wake-up (LISTEN/NOTIFY) is part of what is measured.
 *
 * Reported per setup: events/s (durable: answered after commit), webhook-answer p50/p99,
 * webhook → plugin p50/p99, and where the time goes: relay and PostgreSQL CPU (cores), mean group
 * commit size, commits/s. Everything on 127.0.0.1; bounded; stops by itself.
 *
 *   bun bench/cluster.ts [--duration 8] [--connections 64] [--users 100] [--skip-limit]
 *
 * Needs `wrk` and a PostgreSQL server at TEST_POSTGRES_URL (default postgres://root@127.0.0.1:5432/postgres).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freshPostgresUrl } from "../test/storage/databases.ts";
import {
  benchOpenId,
  commandLine,
  cpuMeter,
  createUsers,
  dist,
  measureLimit,
  Plugins,
  type RelayProcess,
  report,
  runWrk,
  startRelay,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    connections: { type: "string", default: "64" },
    users: { type: "string", default: "100" },
    "skip-limit": { type: "boolean", default: false },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const users = Number(values.users);

/** CPU ticks of every PostgreSQL server process (backends included). */
function postgresTicks(): number {
  let sum = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("postgres")) continue;
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      sum += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

async function measure(setup: "sqlite" | "postgres-1" | "postgres-3") {
  const nodes = setup === "postgres-3" ? 3 : 1;
  const pg = setup === "sqlite" ? undefined : await freshPostgresUrl();
  const relays: RelayProcess[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      relays.push(
        await startRelay({
          nofile: users + 1024,
          env: pg ? { DATABASE_URL: pg.url, NODE_ID: `bench-${i + 1}` } : {},
        }),
      );
    }
    const openIds = Array.from({ length: users }, (_, i) => benchOpenId(i));
    const tokens = await createUsers(relays[0]!.base, openIds, 32);
    const plugins = new Plugins({ ackEvery: 100, latency: true });
    for (let n = 0; n < nodes; n++) {
      const mine = tokens.filter((_, i) => i % nodes === n);
      await plugins.connect(relays[n]!.ws, mine);
    }
    const pg0 = postgresTicks();
    const t0 = performance.now();
    const cpus = relays.map((r) => cpuMeter(r.pid));
    const runs = await Promise.all(
      relays.map((r, n) =>
        runWrk({
          url: r.base,
          script: join(import.meta.dir, "webhook-users.lua"),
          connections: Math.max(1, Math.round(connections / nodes)),
          durationSec: duration,
          env: { BENCH_USERS: String(users), BENCH_RUN: `${Date.now()}_${n}` },
        }),
      ),
    );
    const cpu = cpus.map((c) => c.stop());
    const sec = (performance.now() - t0) / 1000;
    const pgCores = Math.round(((postgresTicks() - pg0) / 100 / sec) * 1000) / 1000;
    const storedOf = async () => {
      let n = 0;
      for (const r of relays) n += await r.metric("inbox_stored_total");
      return n;
    };
    await plugins.drain(await storedOf());
    const stored = await storedOf();
    await plugins.drain(stored);
    let commits = 0;
    for (const r of relays) commits += await r.metric("inbox_commit_batch_size_count");
    const e2e = dist(plugins.latencies());
    plugins.close();
    const rps = runs.reduce((a, r) => a + r.rps, 0);
    return {
      setup,
      nodes,
      eventsPerSec: Math.round(rps),
      webhookAnswerMs: {
        // Per-node wrk runs: the worst node's percentile stands for the setup.
        p50: Math.max(...runs.map((r) => r.p50Ms)),
        p99: Math.max(...runs.map((r) => r.p99Ms)),
      },
      webhookToPluginMs: { p50: e2e.p50, p99: e2e.p99, max: e2e.max },
      non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
      stored,
      receivedByPlugin: plugins.received,
      outOfOrder: plugins.outOfOrder,
      meanCommit: commits ? Math.round((10 * stored) / commits) / 10 : 0,
      commitsPerSec: Math.round(commits / sec),
      relayCores: Math.round(cpu.reduce((a, c) => a + c.relayCores, 0) * 1000) / 1000,
      postgresCores: pg ? pgCores : 0,
    };
  } finally {
    for (const r of relays) await r.stop();
    await pg?.drop();
  }
}

const limit = values["skip-limit"] ? undefined : await measureLimit(connections, duration);
const results = [];
for (const setup of ["sqlite", "postgres-1", "postgres-3"] as const) results.push(await measure(setup));
const ratio = (x: number) => (limit?.rps ? Number((x / limit.rps).toFixed(3)) : null);
report(
  {
    command: commandLine("bench/cluster.ts", {
      duration,
      connections,
      users,
      ...(values["skip-limit"] ? { "skip-limit": true } : {}),
    }),
    limit: limit && { eventsPerSec: Math.round(limit.rps), p99Ms: limit.p99Ms },
    results: results.map((r) => ({ ...r, ratioToLimit: ratio(r.eventsPerSec) })),
  },
  [
    `bare limit: ${limit ? Math.round(limit.rps) : "skipped"} events/s`,
    ...results.map(
      (r) =>
        `${r.setup}: ${r.eventsPerSec} events/s (ratio ${ratio(r.eventsPerSec)}), answer p99 ${r.webhookAnswerMs.p99} ms, ` +
        `webhook→plugin p99 ${r.webhookToPluginMs.p99} ms, relay ${r.relayCores} cores, postgres ${r.postgresCores} cores, ` +
        `${r.commitsPerSec} commits/s of ${r.meanCommit}`,
    ),
  ].join("\n"),
);
