/**
 * `npm run fuzz`: the in-suite fuzzers' generators, at volume, against REAL relay processes.
 *
 *   bun scripts/fuzz.ts [--cases 50000] [--seed 20260221] [--batch 1000] [--max-seconds 3600]
 *
 * Two relays (`bun src/index.ts serve`, temp databases): one plaintext (Verification Token), one
 * encrypted + signed (Encrypt Key), both sending to the fake Feishu. A registered user's plugin socket
 * is connected to each and acks what it gets. Targets: webhook plaintext, webhook encrypted, plugin
 * frames (on that socket), POST /api/messages (the user's token). After every batch: the process is
 * alive, /health answers 200, a fresh valid event reaches the plugin socket and its ack leaves nothing
 * pending, and no /metrics line is longer than 1 KiB.
 * Everything on 127.0.0.1; bounded in cases and time; exits non-zero on any failure.
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import { createUsers, type RelayProcess, startRelay } from "../bench/lib.ts";
import { type FakeFeishu, startFakeFeishu } from "../test/fakes/feishu.ts";
import {
  answerProblem,
  type BuildEnv,
  buildMessagesRequest,
  buildWebhookRequest,
  FailureLog,
  type FrameCase,
  frameArb,
  messagesCaseArb,
  webhookCaseArb,
} from "../test/fuzz/arbitraries.ts";
import { frameVerdict, isValidClientFrame } from "../test/fuzz/frame-oracle.ts";
import { connect, isType, type TestClient } from "../test/relay/ws-client.ts";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "50000" },
    seed: { type: "string", default: "20260221" },
    batch: { type: "string", default: "1000" },
    "max-seconds": { type: "string", default: "3600" },
    concurrency: { type: "string", default: "4" },
  },
});
const CASES = Number(values.cases);
const SEED = Number(values.seed);
const BATCH = Math.max(1, Math.min(Number(values.batch), CASES));
const MAX_MS = Number(values["max-seconds"]) * 1000;
const CONCURRENCY = Math.max(1, Number(values.concurrency));
const OWNER = "ou_f0220000000000000000000000000f02";
const ENCRYPT_KEY = "fuzz-encrypt-key";
const ANSWER_TIMEOUT_MS = 15_000;
const started = performance.now();
const outOfTime = () => performance.now() - started > MAX_MS;

interface Target {
  name: string;
  relay: Side;
  cases: number;
  statuses: Map<string, number>;
  failures: FailureLog;
  seconds: number;
  stopped?: string;
}

/** One relay process and its plugin socket. */
interface Side {
  relay: RelayProcess;
  token: string;
  plugin: TestClient;
  encryptKey?: string;
  counter: number;
  longMetricLines: Set<string>;
}

async function connectPlugin(side: Pick<Side, "relay" | "token">): Promise<TestClient> {
  const plugin = connect(side.relay.ws, { token: side.token });
  await plugin.next(isType("hello"), 10_000);
  plugin.ws.addEventListener("message", (e) => {
    const f = JSON.parse(String(e.data)) as { type?: string; seq?: number };
    if (f.type === "message") plugin.send({ type: "ack", seq: f.seq });
  });
  return plugin;
}

async function startSide(fake: FakeFeishu, encryptKey?: string): Promise<Side> {
  const relay = await startRelay({
    env: {
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
      ...(encryptKey ? { FEISHU_ENCRYPT_KEY: encryptKey } : {}),
      // Accepted sends to the owner are otherwise paced at Feishu's 5/s per chat.
      FEISHU_RATE_CHAT: "100",
      FEISHU_RATE_APP: "1000",
      PUBLIC_URL: "https://relay.example",
      LOG_LEVEL: "error",
    },
  });
  const [token] = await createUsers(relay.base, [OWNER]);
  const side = { relay, token: token as string, encryptKey, counter: 0, longMetricLines: new Set<string>() };
  return { ...side, plugin: await connectPlugin(side) };
}

function env(fake: FakeFeishu, side: Side): BuildEnv {
  return {
    app: {
      appId: fake.appId,
      tenantKey: fake.tenantKey,
      verificationToken: fake.verificationToken,
      encryptKey: side.encryptKey,
    },
    senderOpenId: OWNER,
    nextId: () => `${SEED}_${Date.now().toString(36)}_${++side.counter}`,
    nowMs: Date.now(),
  };
}

async function postTo(side: Side, path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${side.relay.base}${path}`, {
    method: "POST",
    headers,
    body,
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
  });
  return { status: res.status, text: await res.text() };
}

const dead = (side: Side) => side.relay.proc.exitCode !== null || side.relay.proc.signalCode !== null;
const exitOf = (side: Side) => `exit code ${side.relay.proc.exitCode}, signal ${side.relay.proc.signalCode}`;

/** Alive, healthy, and still delivering: the after-batch check. Returns the problem, if any. */
async function checkSide(fake: FakeFeishu, side: Side): Promise<string | undefined> {
  if (dead(side)) return `relay process exited (${exitOf(side)})`;
  try {
    const health = await fetch(`${side.relay.base}/health`, { signal: AbortSignal.timeout(5_000) });
    await health.arrayBuffer();
    if (health.status !== 200) return `/health answered ${health.status}`;
  } catch (err) {
    return `/health did not answer: ${err}`;
  }
  try {
    if (side.plugin.ws.readyState !== WebSocket.OPEN) side.plugin = await connectPlugin(side);
  } catch (err) {
    return `plugin could not reconnect: ${err}`;
  }
  const built = buildWebhookRequest(env(fake, side), {
    body: { kind: "valid", text: "after-batch check" },
    layer: { kind: "ok" },
    iv: crypto.getRandomValues(new Uint8Array(16)),
    nonce: "check",
    padTo: null,
    contentType: null,
  });
  try {
    const res = await postTo(side, "/api/feishu/webhook", built.body, built.headers);
    if (res.status !== 200) return `fresh valid event refused: ${res.status} ${res.text.slice(0, 200)}`;
    await side.plugin.next((f) => f.type === "message" && f.messageId === built.validMessageId, 10_000);
  } catch (err) {
    return `fresh valid event not delivered: ${err}`;
  }
  // Frames on one socket are handled in order: once this pong is back, every ack sent before it
  // (the plugin acks each message as it arrives) is stored, and nothing may be left pending.
  const plugin = side.plugin;
  const from = plugin.frames.length;
  plugin.send({ type: "ping" });
  try {
    await plugin.next(() => plugin.frames.slice(from).some(isType("pong")), 10_000);
    const me = await fetch(`${side.relay.base}/api/me`, {
      headers: { authorization: `Bearer ${side.token}` },
      signal: AbortSignal.timeout(5_000),
    });
    const { pending } = (await me.json()) as { pending?: number };
    if (pending !== 0) return `${pending} delivered messages left unacked`;
  } catch (err) {
    return `ack check failed: ${err}`;
  }
  try {
    // A client-chosen value (a 100 KB event_type) must not become a metric label.
    // Each long line is reported once, by the target whose batch created it.
    const long = (await side.relay.metrics())
      .split("\n")
      .filter((l) => l.length > 1024 && !side.longMetricLines.has(l));
    for (const l of long) side.longMetricLines.add(l);
    if (long[0])
      return `${long.length} new /metrics line(s) over 1 KiB, e.g. ${long[0].slice(0, 60)}… (${long[0].length} chars)`;
  } catch (err) {
    return `/metrics did not answer: ${err}`;
  }
  return undefined;
}

/** Runs `fn` over `items`, at most `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function count(t: Target, status: string) {
  t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
}

async function httpBatch<C>(
  t: Target,
  cases: C[],
  request: (c: C) => { path: string; body: string; headers: Record<string, string>; valid?: string },
  upstream: boolean,
): Promise<void> {
  await pool(cases, CONCURRENCY, async (c) => {
    const req = request(c);
    t.cases++;
    try {
      const { status, text } = await postTo(t.relay, req.path, req.body, req.headers);
      count(t, String(status));
      const problem = answerProblem(status, text, upstream);
      if (problem) t.failures.add(problem, c);
      else if (req.valid && status !== 200) t.failures.add(`valid event refused: ${status}`, c);
    } catch (err) {
      count(t, "no answer");
      t.failures.add(`no answer: ${err}`, c);
    }
  });
}

async function frameBatch(t: Target, cases: FrameCase[]): Promise<void> {
  for (const c of cases) {
    const side = t.relay;
    if (side.plugin.ws.readyState !== WebSocket.OPEN) side.plugin = await connectPlugin(side);
    const plugin = side.plugin;
    t.cases++;
    const from = plugin.frames.length;
    const pongs = () => plugin.frames.slice(from).filter((f) => f.type === "pong").length;
    const valid = c.kind === "text" && isValidClientFrame(c.text);
    plugin.ws.send(c.kind === "text" ? c.text : c.bytes);
    plugin.ws.send('{"type":"ping"}');
    // A valid ping among the fuzzed frames gets its own pong first.
    const want = 1 + (valid && JSON.parse((c as { text: string }).text).type === "ping" ? 1 : 0);
    const pong = plugin.next(() => pongs() >= want, 5_000);
    pong.catch(() => {});
    const outcome: string = await Promise.race([
      pong.then(
        () => "pong",
        () => "no pong within 5 s",
      ),
      plugin.closed.then((e) => `socket closed ${e.code} ${e.reason}`),
    ]);
    if (outcome !== "pong") {
      count(t, outcome.startsWith("socket closed") ? "closed" : "no pong");
      t.failures.add(outcome, c);
      continue;
    }
    const problem = frameVerdict(c, valid, plugin.frames.slice(from));
    count(t, problem ? "bad answer" : "ok");
    if (problem) t.failures.add(problem, c);
  }
}

async function runTarget<C>(
  t: Target,
  fake: FakeFeishu,
  arb: fc.Arbitrary<C>,
  batch: (cases: C[]) => Promise<void>,
  seedOffset: number,
) {
  const t0 = performance.now();
  for (let b = 0; t.cases < CASES; b++) {
    if (outOfTime()) {
      t.stopped = `time limit after ${t.cases} cases`;
      break;
    }
    if (dead(t.relay)) {
      t.stopped = `the relay process is gone (${exitOf(t.relay)})`;
      break;
    }
    const n = Math.min(BATCH, CASES - t.cases);
    try {
      await batch(fc.sample(arb, { seed: SEED + seedOffset * 1_000_003 + b, numRuns: n }));
    } catch (err) {
      t.failures.add(`batch ${b + 1} aborted: ${err}`, { batch: b + 1 });
    }
    const problem = await checkSide(fake, t.relay);
    if (problem) t.failures.add(`after batch ${b + 1}: ${problem}`, { batch: b + 1 });
    process.stderr.write(
      `${t.name}: ${t.cases}/${CASES} cases, ${t.failures.total} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
    );
  }
  t.seconds += (performance.now() - t0) / 1000;
}

const fake = await startFakeFeishu();
const plain = await startSide(fake);
const encrypted = await startSide(fake, ENCRYPT_KEY);
const target = (name: string, relay: Side): Target => ({
  name,
  relay,
  cases: 0,
  statuses: new Map(),
  failures: new FailureLog(),
  seconds: 0,
});
const targets = {
  plain: target("webhook plaintext", plain),
  encrypted: target("webhook encrypted+signed", encrypted),
  frames: target("plugin frames", plain),
  messages: target("POST /api/messages", plain),
};
const webhookBatch = (t: Target) => (cases: Parameters<typeof buildWebhookRequest>[1][]) =>
  httpBatch(
    t,
    cases,
    (c) => {
      const built = buildWebhookRequest(env(fake, t.relay), c);
      return {
        path: "/api/feishu/webhook",
        body: built.body,
        headers: built.headers,
        valid: built.validMessageId,
      };
    },
    false,
  );
try {
  await runTarget(targets.plain, fake, webhookCaseArb(), webhookBatch(targets.plain), 1);
  await runTarget(targets.encrypted, fake, webhookCaseArb(), webhookBatch(targets.encrypted), 2);
  await runTarget(targets.frames, fake, frameArb(OWNER), (cases) => frameBatch(targets.frames, cases), 3);
  await runTarget(
    targets.messages,
    fake,
    messagesCaseArb(OWNER, { deepWeight: 10, slotDepth: 2_000 }),
    (cases) =>
      httpBatch(
        targets.messages,
        cases,
        (c) => ({ path: "/api/messages", ...buildMessagesRequest(c, plain.token) }),
        true,
      ),
    4,
  );
} finally {
  for (const side of [plain, encrypted]) {
    side.plugin.close();
    await side.relay.stop();
  }
  await fake.stop();
}

const all = Object.values(targets);
const rows = all.map((t) => [
  t.name,
  String(t.cases),
  [...t.statuses.entries()]
    .sort()
    .map(([s, n]) => `${s}:${n}`)
    .join(" "),
  String(t.failures.total),
  t.seconds.toFixed(1),
]);
const header = ["target", "cases", "statuses seen", "failures", "seconds"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
console.log(`\nnpm run fuzz -- --cases ${CASES} --seed ${SEED} --batch ${BATCH}`);
console.log(line(header));
for (const r of rows) console.log(line(r));
for (const t of all) {
  if (t.stopped) console.log(`\n${t.name}: stopped early (${t.stopped})`);
  const summary = t.failures.summary();
  if (summary.length) console.log(`\n${t.name} failures:\n${summary.slice(0, 12).join("\n")}`);
}
const failed = all.some((t) => t.failures.total > 0 || t.stopped || t.cases < CASES);
console.log(failed ? "\nFUZZ FAILED" : "\nfuzz passed");
process.exit(failed ? 1 : 0);
