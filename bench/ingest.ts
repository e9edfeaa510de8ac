/**
 * The real webhook path under load (M1-2): encrypted and signed pushes, as Feishu sends them when an
 * Encrypt Key is set, each decrypted, signature-checked over the raw body, token-checked,
 * deduplicated and committed (WAL, synchronous=FULL, group commit) before its 200. Reported as a ratio
 * to ../shared/bench-limit's group-commit FULL figure measured in the same run.
 *
 *   bun bench/ingest.ts [--duration 5] [--connections 64]
 *
 * Every answer must be 2xx: the run reports wrk's non-2xx count and socket errors and exits 1 if
 * either is not zero.
 *
 * Needs `wrk` (apt-get install -y wrk). Everything on 127.0.0.1; stops by itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encryptFeishu, messageEvent, signFeishu } from "../test/fakes/feishu-events.ts";
import { commandLine, createUsers, measureLimit, report, runWrk, startRelay, type WrkResult } from "./lib.ts";

const { values } = parseArgs({
  options: { duration: { type: "string", default: "5" }, connections: { type: "string", default: "64" } },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const ENCRYPT_KEY = "bench-encrypt-key";
const TOKEN = "bench-verification-token";
const SENDER = "ou_ingest_bench";
/** More distinct events than the relay can take in the run, so none is a replayed duplicate. */
const EVENTS = Math.min(400_000, 30_000 * duration);

function generate(path: string) {
  const app = { appId: "cli_a1b2c3d4e5f60718", tenantKey: "t", verificationToken: TOKEN, now: Date.now() };
  const lines: string[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const envelope = messageEvent(app, {
      senderOpenId: SENDER,
      text: "hello relay, a typical short chat message",
    });
    const body = JSON.stringify({ encrypt: encryptFeishu(JSON.stringify(envelope), ENCRYPT_KEY) });
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = String(100000 + i);
    lines.push(`${ts}\t${nonce}\t${signFeishu(ts, nonce, ENCRYPT_KEY, body)}\t${body}`);
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

const dir = mkdtempSync(join(tmpdir(), "relay-ingest-"));
const bodies = join(dir, "bodies.tsv");
const genStart = performance.now();
generate(bodies);
const genSec = (performance.now() - genStart) / 1000;

const limit = await measureLimit(connections, duration);
const relay = await startRelay({
  // No plugin drains the inbox here: the cap is raised so that the run measures the webhook path,
  // not the over-cap trimming of an offline user's oldest messages (bench/relay.ts covers delivery).
  env: {
    FEISHU_ENCRYPT_KEY: ENCRYPT_KEY,
    FEISHU_VERIFICATION_TOKEN: TOKEN,
    INBOX_MAX_PENDING: "10000000",
    INBOX_MAX_PENDING_BYTES: "64GiB",
  },
});
let result: WrkResult;
let stored = 0;
try {
  await createUsers(relay.base, [SENDER]);
  result = await runWrk({
    url: relay.base,
    script: join(import.meta.dir, "webhook-signed.lua"),
    connections,
    durationSec: duration,
    env: { BENCH_BODIES: bodies },
  });
  stored = await relay.metric("inbox_stored_total");
} finally {
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
}

const ratio = limit.rps ? Number((result.rps / limit.rps).toFixed(3)) : null;
report(
  {
    command: commandLine("bench/ingest.ts", { duration, connections }),
    generatedEvents: EVENTS,
    generationSec: Number(genSec.toFixed(1)),
    limit: { eventsPerSec: limit.rps, p50Ms: limit.p50Ms, p99Ms: limit.p99Ms },
    relay: {
      eventsPerSec: result.rps,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      non2xx: result.non2xx,
      socketErrors: result.socketErrorCount,
      socketErrorsLine: result.socketErrors,
      badStatuses: result.badStatuses,
      requests: result.requests,
      stored,
    },
    ratioToLimit: ratio,
  },
  `webhook (encrypted, signed, durable): ${result.rps.toFixed(0)} events/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms; ` +
    `bare limit ${limit.rps.toFixed(0)}/s → ratio ${ratio}; stored ${stored} of ${result.requests}; ` +
    `non-2xx ${result.non2xx}, socket errors ${result.socketErrorCount}`,
);
if (result.non2xx > 0 || result.socketErrorCount > 0) {
  console.error(
    `FAILED: ${result.non2xx} non-2xx answers and ${result.socketErrorCount} socket errors in ${result.requests} requests` +
      (result.socketErrors ? ` (${result.socketErrors})` : "") +
      result.badStatuses.map((b) => `\n  ${b.count}× ${b.status}: ${b.body}`).join(""),
  );
  process.exit(1);
}
