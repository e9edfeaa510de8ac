/**
 * Shared bench helpers: start the real relay (`bun src/index.ts serve`) on 127.0.0.1 with a temp DB and
 * ADMIN_TOKEN, create users through the admin API, a plugin stand-in that holds many authenticated
 * WebSockets in one process (counts and acks `message` frames, measures webhook → plugin latency from
 * the send time embedded in the text), wrk runner and parser, RSS reader, and the bare hot-path limit
 * of ../shared/bench-limit measured in the same run. Everything binds and targets 127.0.0.1 only and
 * every wait is bounded.
 */

import { dlopen, FFIType, ptr } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "..");
/**
 * The relay tree that is started: this checkout, or BENCH_RELAY_ROOT (e.g. a patched copy, for an A/B
 * of one change without touching src/).
 */
export const RELAY_ROOT = process.env.BENCH_RELAY_ROOT || ROOT;
/**
 * BENCH_RELAY_ENV='{"BUN_JSC_logGC":"1"}': extra environment for the relay process, for experiments
 * (JSC options, a patched tree's knobs). Otherwise the relay starts with a clean environment.
 */
const RELAY_EXTRA_ENV: Record<string, string> = JSON.parse(process.env.BENCH_RELAY_ENV || "{}");
/** Extra `bun` flags for every relay a bench starts (a JSON array), e.g. `["--heap-prof", "--heap-prof-dir=/tmp/hp"]`. */
const RELAY_EXTRA_FLAGS: string[] = JSON.parse(process.env.BENCH_BUN_FLAGS || "[]");
export const LIMIT_DIR = join(ROOT, "../shared/bench-limit");
export const ADMIN_TOKEN = "bench-admin-token-0123456789";
/** Marker in bench message texts, followed by the send time in µs since the epoch (wall clock). */
export const SENT_MARK = "bench@";

/**
 * Wall-clock milliseconds with sub-ms resolution: CLOCK_REALTIME itself, the clock webhook-users.lua
 * stamps wrk's requests with. `performance.timeOrigin + performance.now()` is the monotonic clock
 * anchored once at start; on this VM it was once seconds away from CLOCK_REALTIME, which turned the
 * webhook → plugin latency of bench/relay.ts into −1.8 s. Outside Linux/glibc it falls back to that.
 */
export const wallMs: () => number = (() => {
  try {
    const { symbols } = dlopen("libc.so.6", {
      clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    });
    const ts = new BigInt64Array(2);
    const at = ptr(ts);
    const CLOCK_REALTIME = 0;
    return () => {
      symbols.clock_gettime(CLOCK_REALTIME, at);
      return Number(ts[0]) * 1000 + Number(ts[1]) / 1e6;
    };
  } catch {
    return () => performance.timeOrigin + performance.now();
  }
})();

export async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const p = s.port ?? 0;
  s.stop(true);
  return p;
}

/** Polls `url` until it answers below 500 (any answer when `anyStatus`), bounded. */
export async function waitFor(url: string, timeoutMs = 10_000, anyStatus = false): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (anyStatus || res.status < 500) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`not up: ${url}`);
}

export interface RelayProcess {
  proc: Subprocess;
  pid: number;
  port: number;
  base: string;
  ws: string;
  dbPath: string;
  /** Prometheus text of /metrics. */
  metrics(): Promise<string>;
  /** Sum of every sample of one metric (all label sets). */
  metric(name: string): Promise<number>;
  rssKb(): number;
  /**
   * SIGTERM, wait up to 12 s (then SIGKILL), and remove the temp DB unless `keepDb`. Resolves true
   * when the relay exited by itself.
   */
  stop(opts?: { keepDb?: boolean }): Promise<boolean>;
}

export interface RelayOptions {
  env?: Record<string, string>;
  /** Reuse this database file (e.g. users created by an earlier relay process). */
  dbPath?: string;
  /** Raise the open-files limit of the relay process (`ulimit -n`, capped at the hard limit). */
  nofile?: number;
  /** Extra `bun` flags, e.g. ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]. */
  bunFlags?: string[];
  /** The relay tree to start (default RELAY_ROOT); bench/ab.ts starts two. */
  root?: string;
}

/** Starts the relay as a child process on a free port and waits for /health. */
export async function startRelay(opts: RelayOptions = {}): Promise<RelayProcess> {
  const dir = opts.dbPath ? undefined : mkdtempSync(join(tmpdir(), "relay-bench-"));
  const dbPath = opts.dbPath ?? join(dir as string, "relay.db");
  const port = await freePort();
  const argv = [
    "bun",
    ...(opts.bunFlags ?? []),
    ...RELAY_EXTRA_FLAGS,
    join(opts.root ?? RELAY_ROOT, "src/index.ts"),
    "serve",
  ];
  const cmd = opts.nofile
    ? [
        "bash",
        "-c",
        `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$@"`,
        "relay",
        ...argv,
      ]
    : argv;
  const proc = Bun.spawn(cmd, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_PATH: dbPath,
      ADMIN_TOKEN,
      LOG_LEVEL: "warn",
      ...opts.env,
      ...RELAY_EXTRA_ENV,
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${base}/health`);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  const metrics = async () =>
    (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  return {
    proc,
    pid: proc.pid,
    port,
    base,
    ws: `ws://127.0.0.1:${port}/openclaw`,
    dbPath,
    metrics,
    async metric(name) {
      return metricSum(await metrics(), name);
    },
    rssKb: () => rssKb(proc.pid),
    async stop({ keepDb = false } = {}) {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(12_000).then(() => false)]);
      if (!exited) proc.kill("SIGKILL");
      await proc.exited;
      if (dir && !keepDb) rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, "gm")))
    sum += Number(m[1]);
  return sum;
}

/** VmRSS of a process in KB (0 if it is gone). */
export function rssKb(pid: number): number {
  try {
    const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting: this machine is shared, so each run reports how much CPU other processes took.

const CLK_TCK = 100;

function procTicks(pid: number | "self", withChildren = false): number {
  try {
    const stat = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14..17 of proc(5) (utime, stime, cutime, cstime) are 11..14 after the command name.
    const own = Number(f[11]) + Number(f[12]);
    return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
  } catch {
    return 0;
  }
}

function systemTicks(): { busy: number; total: number } {
  const line = (require("node:fs").readFileSync("/proc/stat", "utf8") as string).split("\n")[0] as string;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/**
 * Starts counting CPU; `stop()` returns cores used (average over the wall time) by the relay, by the
 * bench (this process, its reaped children such as wrk, and `clientPids` started after the meter —
 * client processes still running), and by everything else on the machine.
 */
export function cpuMeter(relayPid: number) {
  const t0 = performance.now();
  const sys0 = systemTicks();
  const relay0 = procTicks(relayPid);
  const self0 = procTicks("self", true);
  return {
    stop(clientPids: number[] = []) {
      const sec = (performance.now() - t0) / 1000;
      const sys = systemTicks();
      const relay = procTicks(relayPid) - relay0;
      const self = procTicks("self", true) - self0 + clientPids.reduce((a, pid) => a + procTicks(pid), 0);
      const cores = (ticks: number) => round3(ticks / CLK_TCK / sec);
      return {
        relayCores: cores(relay),
        benchCores: cores(self),
        otherCores: cores(Math.max(0, sys.busy - sys0.busy - relay - self)),
        idleCores: cores(Math.max(0, sys.total - sys0.total - (sys.busy - sys0.busy))),
      };
    },
  };
}

/** Creates (or refreshes) users through `POST /api/admin/users`, `concurrency` at a time; returns their tokens in order. */
export async function createUsers(base: string, openIds: string[], concurrency = 32): Promise<string[]> {
  const tokens = new Array<string>(openIds.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < openIds.length; i = next++) {
      const res = await fetch(`${base}/api/admin/users`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ openId: openIds[i], name: `Bench ${i}` }),
      });
      if (res.status >= 300) throw new Error(`create user ${openIds[i]}: ${res.status} ${await res.text()}`);
      tokens[i] = ((await res.json()) as { token: string }).token;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, openIds.length) }, worker));
  return tokens;
}

export const benchOpenId = (i: number) => `ou_bench_${i}`;

/** A random-looking 32-hex-digit id derived from `seed`, like Feishu's event and message ids. */
export const feishuLikeId = (seed: string) => new Bun.CryptoHasher("md5").update(seed).digest("hex");

/**
 * A Feishu v2 `im.message.receive_v1` event (plaintext, p2p) whose text carries its send time. Its
 * event_id and message_id are random-looking hex (from `id`), as Feishu's are.
 */
export function webhookEvent(id: string, senderOpenId: string, sentAtMs = wallMs()): string {
  const text = `hello relay, a typical short chat message ${SENT_MARK}${Math.round(sentAtMs * 1000)}`;
  return JSON.stringify({
    schema: "2.0",
    header: {
      event_id: feishuLikeId(`e${id}`),
      event_type: "im.message.receive_v1",
      create_time: "1700000000000",
      token: "",
      app_id: "cli_a1b2c3d4e5f60718",
      tenant_key: "t",
    },
    event: {
      sender: { sender_id: { open_id: senderOpenId }, sender_type: "user", tenant_key: "t" },
      message: {
        message_id: `om_${feishuLikeId(`m${id}`)}`,
        chat_id: "oc_bench",
        chat_type: "p2p",
        message_type: "text",
        content: JSON.stringify({ text }),
        create_time: "1700000000000",
      },
    },
  });
}

export async function postWebhook(base: string, body: string): Promise<number> {
  const res = await fetch(`${base}/api/feishu/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

// ---------------------------------------------------------------------------------------------------
// Plugin stand-in: many authenticated connections in this process.

export interface PluginsOptions {
  /** Ack (cumulatively) after this many message frames per connection; 0 = never. */
  ackEvery?: number;
  /** Connections being opened at once. */
  concurrency?: number;
  /** Keep per-frame latency samples (webhook send → frame received). */
  latency?: boolean;
  /** Called on every message frame (after counting). */
  onMessage?: (conn: number, seq: number) => void;
  /** A connection is ready on `hello` (the relay) or as soon as it opens (the bare bench-limit server). */
  readyOn?: "hello" | "open";
}

const SEQ_AT = '{"type":"message","seq":'.length;

interface Conn {
  ws: WebSocket;
  received: number;
  lastSeq: number;
  ackedSeq: number;
  outOfOrder: number;
  helloAt: number;
  openAt: number;
  closeCode?: number;
}

export class Plugins {
  readonly conns: Conn[] = [];
  /** Message frames received, over all connections. */
  received = 0;
  outOfOrder = 0;
  closed = 0;
  /** Connections that never became ready (non-strict `connect`). */
  failed = 0;
  readonly closeCodes = new Map<number, number>();
  #latency = new Float64Array(1 << 16);
  #latencyN = 0;
  readonly #opts: Required<Omit<PluginsOptions, "onMessage">> & Pick<PluginsOptions, "onMessage">;

  constructor(opts: PluginsOptions = {}) {
    this.#opts = { ackEvery: 100, concurrency: 200, latency: true, readyOn: "hello", ...opts };
  }

  /**
   * Opens one connection per token (bounded concurrency); resolves when every one is ready. A failed
   * connection throws unless `strict` is false; then failures are counted in `failed`.
   */
  async connect(url: string, tokens: string[], timeoutMs = 60_000, strict = true): Promise<void> {
    let next = 0;
    let firstError: unknown;
    const deadline = Date.now() + timeoutMs;
    const worker = async () => {
      for (let i = next++; i < tokens.length && Date.now() < deadline; i = next++) {
        try {
          await this.#open(url, tokens[i] as string, deadline);
        } catch (err) {
          this.failed++;
          firstError ??= err;
          if (strict) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#opts.concurrency, tokens.length) }, worker));
    if (strict && this.conns.length < tokens.length)
      throw new Error(`connect: timed out after ${this.conns.length}`);
    if (strict && firstError) throw firstError;
  }

  #open(url: string, token: string, deadline: number): Promise<Conn> {
    const index = this.conns.length;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}`, "user-agent": "openclaw-relay-bench/1" },
    } as unknown as string[]);
    const conn: Conn = { ws, received: 0, lastSeq: 0, ackedSeq: 0, outOfOrder: 0, helloAt: 0, openAt: 0 };
    this.conns.push(conn);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          ws.close();
          reject(new Error("not ready in time"));
        },
        Math.max(1, deadline - Date.now()),
      );
      ws.onopen = () => {
        conn.openAt = wallMs();
        if (this.#opts.readyOn === "open") {
          clearTimeout(timer);
          resolve(conn);
        }
      };
      ws.onmessage = (e) => {
        const s = e.data as string;
        if (s.startsWith('{"type":"message"')) return this.#message(conn, index, s);
        if (s.startsWith('{"type":"hello"')) {
          conn.helloAt = wallMs();
          clearTimeout(timer);
          resolve(conn);
        }
      };
      ws.onclose = (e) => {
        conn.closeCode = e.code;
        this.closed++;
        this.closeCodes.set(e.code, (this.closeCodes.get(e.code) ?? 0) + 1);
        clearTimeout(timer);
        reject(new Error(`closed ${e.code} before it was ready`));
      };
    });
  }

  /** Cheap parse: the relay writes `{"type":"message","seq":n,…}`; the text carries `bench@<µs>`. */
  #message(conn: Conn, index: number, s: string): void {
    const now = wallMs();
    const seq = Number.parseInt(s.slice(SEQ_AT, SEQ_AT + 20), 10);
    if (seq !== conn.lastSeq + 1 && conn.lastSeq !== 0) {
      conn.outOfOrder++;
      this.outOfOrder++;
    }
    conn.lastSeq = seq;
    conn.received++;
    this.received++;
    if (this.#opts.latency) {
      const at = s.indexOf(SENT_MARK);
      if (at >= 0) {
        const sentUs = Number.parseInt(s.slice(at + SENT_MARK.length, at + SENT_MARK.length + 20), 10);
        this.#sample(now - sentUs / 1000);
      }
    }
    if (this.#opts.ackEvery && conn.received % this.#opts.ackEvery === 0) this.#ack(conn);
    this.#opts.onMessage?.(index, seq);
  }

  #ack(conn: Conn): void {
    if (conn.lastSeq > conn.ackedSeq && conn.ws.readyState === WebSocket.OPEN) {
      conn.ws.send(JSON.stringify({ type: "ack", seq: conn.lastSeq }));
      conn.ackedSeq = conn.lastSeq;
    }
  }

  #sample(ms: number): void {
    if (this.#latencyN === this.#latency.length) {
      const bigger = new Float64Array(this.#latency.length * 2);
      bigger.set(this.#latency);
      this.#latency = bigger;
    }
    this.#latency[this.#latencyN++] = ms;
  }

  /** Acks whatever each connection received since its last ack. */
  ackAll(): void {
    for (const c of this.conns) this.#ack(c);
  }

  latencies(): Float64Array {
    return this.#latency.subarray(0, this.#latencyN);
  }

  resetLatencies(): void {
    this.#latencyN = 0;
  }

  /** Waits until `received` reaches `target` or stops growing for `idleMs` (bounded by `maxMs`). */
  async drain(target: number, idleMs = 2000, maxMs = 15_000): Promise<void> {
    const start = Date.now();
    let last = this.received;
    let lastChange = Date.now();
    while (this.received < target && Date.now() - start < maxMs && Date.now() - lastChange < idleMs) {
      await Bun.sleep(20);
      if (this.received !== last) {
        last = this.received;
        lastChange = Date.now();
      }
    }
  }

  close(): void {
    for (const c of this.conns) if (c.ws.readyState <= WebSocket.OPEN) c.ws.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Statistics.

export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Percentiles in ms (3 decimals) of a sample. */
export function dist(values: ArrayLike<number>): Dist {
  const a = Float64Array.from(values as ArrayLike<number>).sort();
  const at = (p: number) =>
    a.length ? round3(a[Math.min(a.length - 1, Math.ceil(p * a.length) - 1)] as number) : 0;
  return {
    n: a.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: a.length ? round3(a[a.length - 1] as number) : 0,
  };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------------
// wrk.

export interface WrkOptions {
  url: string;
  script: string;
  connections: number;
  durationSec: number;
  threads?: number;
  env?: Record<string, string>;
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** Answer latency in ms. */
  meanMs: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** wrk's "Non-2xx or 3xx responses" (0 when the line is absent). */
  non2xx: number;
  socketErrors: string | null;
  /** connect + read + write + timeout of wrk's "Socket errors" line (0 when absent). */
  socketErrorCount: number;
  /** Non-2xx answers by status with the first body, when the wrk script reports them (`status N: count body`). */
  badStatuses: Array<{ status: number; count: number; body: string }>;
  raw: string;
}

/** Runs wrk without blocking this process's event loop (the plugin stand-in keeps reading meanwhile). */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const p = Bun.spawn(
    [
      "wrk",
      `-t${o.threads ?? 1}`,
      `-c${o.connections}`,
      `-d${o.durationSec}s`,
      "--latency",
      "-s",
      o.script,
      o.url,
    ],
    { env: { ...process.env, ...o.env }, stdout: "pipe", stderr: "pipe" },
  );
  const [out, err] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (!/Requests\/sec/.test(out)) throw new Error(`wrk failed:\n${out}\n${err}`);
  return parseWrk(out);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
function toMs(v: string | undefined): number {
  const m = v ? /^([\d.]+)(us|ms|s|m)$/.exec(v) : null;
  return m ? round3(Number(m[1]) * (UNIT_MS[m[2] as string] as number)) : Number.NaN;
}

/** Sum of wrk's "Socket errors: connect N, read N, write N, timeout N". */
export function socketErrorCount(out: string): number {
  const line = /Socket errors:([^\n]*)/.exec(out)?.[1] ?? "";
  let sum = 0;
  for (const m of line.matchAll(/\b(?:connect|read|write|timeout) (\d+)/g)) sum += Number(m[1]);
  return sum;
}

export function parseWrk(out: string): WrkResult {
  const lat = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    meanMs: toMs(lat?.[1]),
    p50Ms: pct("50"),
    p75Ms: pct("75"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    maxMs: toMs(lat?.[3]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors:[^\n]*/.exec(out)?.[0] ?? null,
    socketErrorCount: socketErrorCount(out),
    badStatuses: [...out.matchAll(/^status (\d+): (\d+) ?(.*)$/gm)].map((m) => ({
      status: Number(m[1]),
      count: Number(m[2]),
      body: m[3] ?? "",
    })),
    raw: out,
  };
}

// ---------------------------------------------------------------------------------------------------
// The bare hot-path limit (../shared/bench-limit), group commit, synchronous=FULL.

/** Resolves once something accepts TCP connections on 127.0.0.1:port (bounded). */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.end();
      return;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** The bare hot path (`group.ts PORT FULL`): POST / with `{header:{event_id}, event:{text}}`, WebSocket on /. */
export async function startLimit() {
  const port = await freePort();
  const proc = Bun.spawn(["bun", join(LIMIT_DIR, "group.ts"), String(port), "FULL"], {
    cwd: tmpdir(),
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    await waitForPort(port);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return {
    pid: proc.pid,
    port,
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/`,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      for (const ext of ["", "-wal", "-shm"]) rmSync(`/tmp/limit-${port}.db${ext}`, { force: true });
    },
  };
}

/** A request body for the bare hot path whose text carries its send time (like `webhookEvent`). */
export function limitEvent(id: string, sentAtMs = wallMs()): string {
  return JSON.stringify({
    schema: "2.0",
    header: { event_id: `ev_${id}`, event_type: "im.message.receive_v1" },
    event: { text: `hello relay, a typical short chat message ${SENT_MARK}${Math.round(sentAtMs * 1000)}` },
  });
}

/** wrk with post.lua against the bare hot path, its own subscriber (sub.ts) counting frames. */
export async function measureLimit(connections: number, durationSec: number) {
  const limit = await startLimit();
  try {
    const sub = Bun.spawn(["bun", join(LIMIT_DIR, "sub.ts"), String(limit.port)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    await Bun.sleep(300);
    const cpu = cpuMeter(limit.pid);
    const r = await runWrk({
      url: `${limit.base}/`,
      script: join(LIMIT_DIR, "post.lua"),
      connections,
      durationSec,
    });
    const cpuDuringLoad = cpu.stop();
    sub.kill("SIGTERM");
    const subOut = await new Response(sub.stdout).text();
    await sub.exited;
    return { ...r, received: Number(/received (\d+)/.exec(subOut)?.[1] ?? 0), cpuDuringLoad };
  } finally {
    await limit.stop();
  }
}

/** Prints the JSON summary, then one human line. */
export function report(result: Record<string, unknown>, human: string): void {
  console.log(JSON.stringify(result, null, 2));
  console.log(human);
}

/** The command line that reproduces this run. */
export function commandLine(script: string, flags: Record<string, string | number | boolean>): string {
  const parts = Object.entries(flags).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`));
  return ["bun", script, ...parts].join(" ");
}
