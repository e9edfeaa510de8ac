/**
 * Memory per idle authenticated plugin connection: --connections users are created through the admin
 * API (each connection must be a distinct user: a second connection of the same user replaces the
 * first with 4002), the relay is restarted on that database so its baseline holds no trace of the
 * user creation, then two client processes (their `ulimit -n` raised) open one WebSocket per user —
 * first --step of them, then the rest — and wait until every one got `hello`. The relay's VmRSS
 * (/proc/<pid>/status) is read at start, after the first step and after all, then again after a short
 * settle. Only the relay process is measured; Bun's WebSocket client costs memory in the clients.
 * Also timed: SIGTERM → exit of the relay with every connection open (it closes each with 1012).
 * Goal (2-core machine): ≤ 20 KB per idle connection (the original relay: ~58 KB).
 * Everything on 127.0.0.1; bounded; stops by itself.
 *
 *   bun bench/connections.ts [--connections 10000] [--step 1000] [--settle 3]
 *
 * (Internally it re-runs itself as `bun bench/connections.ts --client FILE FROM TO` for the clients.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  benchOpenId,
  commandLine,
  cpuMeter,
  createUsers,
  Plugins,
  report,
  round3,
  startRelay,
  wallMs,
} from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    connections: { type: "string", default: "10000" },
    step: { type: "string", default: "1000" },
    settle: { type: "string", default: "3" },
    client: { type: "string" },
  },
});

const NOFILE = 65_536;
/** Each client process gives up opening connections after this long (the run stays bounded). */
const CONNECT_TIMEOUT_MS = 40_000;

if (values.client)
  await clientMain(values.client, Number(positionals[0]), Number(positionals[1]), positionals[2] as string);
else await main();

/**
 * Client process: opens connections for tokens[from, to), prints one JSON line when every one got
 * `hello` (or failed), then holds them until its stdin closes (the parent is done) or 120 s pass.
 */
async function clientMain(file: string, from: number, to: number, ws: string) {
  const tokens = ((await Bun.file(file).json()) as string[]).slice(from, to);
  const plugins = new Plugins({ ackEvery: 0, latency: false, concurrency: 100 });
  const started = wallMs();
  await plugins.connect(ws, tokens, CONNECT_TIMEOUT_MS, false);
  const ready = plugins.conns.filter((c) => c.helloAt > 0 && c.closeCode === undefined).length;
  console.log(
    JSON.stringify({
      ready,
      wanted: tokens.length,
      ms: Math.round(wallMs() - started),
      failed: plugins.failed,
      closeCodes: Object.fromEntries(plugins.closeCodes),
    }),
  );
  const stdinClosed = (async () => {
    const reader = Bun.stdin.stream().getReader();
    while (!(await reader.read()).done) {}
  })();
  await Promise.race([stdinClosed, Bun.sleep(120_000)]);
  plugins.close();
  process.exit(0);
}

function spawnClient(file: string, from: number, to: number, ws: string) {
  const argv = ["bun", import.meta.path, "--client", file, String(from), String(to), ws];
  const proc = Bun.spawn(
    [
      "bash",
      "-c",
      `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"`,
      "client",
      ...argv,
    ],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
  );
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const ready = (async () => {
    let text = "";
    const deadline = Date.now() + CONNECT_TIMEOUT_MS + 15_000;
    while (!text.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    if (!text.includes("\n")) throw new Error(`client ${from}-${to} gave no result`);
    return JSON.parse(text.slice(0, text.indexOf("\n"))) as {
      ready: number;
      wanted: number;
      ms: number;
      failed: number;
      closeCodes: Record<string, number>;
    };
  })();
  return {
    pid: proc.pid,
    ready,
    async stop() {
      proc.stdin.end();
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!done) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

async function main() {
  const n = Number(values.connections);
  const step = Math.min(Number(values.step), n);
  const settle = Number(values.settle);
  const work = mkdtempSync(join(tmpdir(), "relay-conn-bench-"));
  const tokenFile = join(work, "tokens.json");
  try {
    // 1. Users and their tokens, through the admin API of a first relay process.
    const creator = await startRelay({ dbPath: join(work, "relay.db") });
    const t0 = wallMs();
    let tokens: string[];
    try {
      tokens = await createUsers(
        creator.base,
        Array.from({ length: n }, (_, i) => benchOpenId(i)),
        64,
      );
    } finally {
      await creator.stop({ keepDb: true });
    }
    const createSec = (wallMs() - t0) / 1000;
    await Bun.write(tokenFile, JSON.stringify(tokens));

    // 2. A fresh relay on that database: the baseline is a relay that has just started.
    const relay = await startRelay({ dbPath: join(work, "relay.db"), nofile: NOFILE });
    const clients: ReturnType<typeof spawnClient>[] = [];
    try {
      await Bun.sleep(500);
      const rss0 = relay.rssKb();
      const cpu = cpuMeter(relay.pid);
      const c1 = spawnClient(tokenFile, 0, step, relay.ws);
      clients.push(c1);
      const r1 = await c1.ready;
      await Bun.sleep(500);
      const rss1 = relay.rssKb();
      const t1 = wallMs();
      const c2 = step < n ? spawnClient(tokenFile, step, n, relay.ws) : undefined;
      if (c2) clients.push(c2);
      const r2 = c2 ? await c2.ready : { ready: 0, wanted: 0, ms: 0, failed: 0, closeCodes: {} };
      const connectSec = (wallMs() - t1) / 1000;
      const cpuWhileConnecting = cpu.stop(clients.map((c) => c.pid));
      await Bun.sleep(500);
      const rssN = relay.rssKb();
      await Bun.sleep(settle * 1000);
      const rssSettled = relay.rssKb();
      const connected = await relay.metric("ws_connections_total");
      const health = (await (await fetch(`${relay.base}/health`)).json()) as { connections?: number };
      const ready = r1.ready + r2.ready;
      const perConn = (rss: number) => round3((rss - rss0) / Math.max(1, ready));
      const marginal = round3((rssSettled - rss1) / Math.max(1, r2.ready));
      const kbPerConnection = perConn(rssSettled);
      // Graceful stop with every plugin connected (DESIGN §8: SIGTERM drains within 10 s).
      const stopStarted = wallMs();
      const stoppedByItself = await relay.stop({ keepDb: true });
      const stopSec = round3((wallMs() - stopStarted) / 1000);
      const result = {
        command: commandLine("bench/connections.ts", { connections: n, step, settle }),
        connections: {
          wanted: n,
          ready,
          acceptedByRelay: connected,
          healthConnections: health.connections ?? null,
        },
        clients: [r1, r2],
        usersCreatedPerSec: Math.round(n / createSec),
        connectionsPerSec: Math.round(r2.ready / connectSec),
        relayRssKb: { start: rss0, afterStep: rss1, afterAll: rssN, settled: rssSettled },
        kbPerConnection,
        kbPerConnectionRightAfter: perConn(rssN),
        kbPerConnectionMarginal: marginal,
        relayStopSecWithAllConnected: stopSec,
        relayStoppedByItself: stoppedByItself,
        phasesSec: { createUsers: round3(createSec), connect: round3(connectSec), stop: stopSec },
        cpuWhileConnecting,
        goal: { maxKb: 20, met: ready === n && kbPerConnection <= 20 },
      };
      report(
        result,
        `${ready}/${n} idle authenticated connections: relay RSS ${Math.round(rss0 / 1024)} → ${Math.round(rssSettled / 1024)} MB = ` +
          `${kbPerConnection} KB per connection (marginal ${step}→${n}: ${marginal} KB; original relay ~58 KB) — goal ≤ 20 KB ${result.goal.met ? "met" : "NOT met"}; ` +
          `SIGTERM → exit with all connected: ${stopSec} s${stoppedByItself ? "" : " (did not exit by itself: SIGKILL)"}`,
      );
    } finally {
      for (const c of clients) await c.stop();
      await relay.stop({ keepDb: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
