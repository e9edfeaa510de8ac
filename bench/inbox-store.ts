/**
 * The inbox's database path in process, per adapter: waves of concurrent accepts (group commits), then
 * each user's pending read and cumulative ack. Reports events/s (wall) and CPU µs per event of this
 * process, so that SQLite and PostgreSQL can be compared on the same machine in the same run.
 *
 *   bun bench/inbox-store.ts [--users 1] [--waves 200] [--wave 200] [--postgres postgres://root@127.0.0.1/postgres]
 *
 * PostgreSQL: a scratch database is created next to the one the URL names and dropped afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SQL } from "bun";
import { users as pgUsers } from "../src/db/pg-schema.ts";
import { Logger } from "../src/ops/logger.ts";
import { Registry } from "../src/ops/metrics.ts";
import { Inbox } from "../src/relay/inbox.ts";
import { createInboxStore } from "../src/relay/inbox-store.ts";
import type { InboundMessage } from "../src/relay/protocol.ts";
import { closeStorage, openStorage, type Storage } from "../src/storage/storage.ts";
import { feishuLikeId } from "./lib.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "1" },
    waves: { type: "string", default: "200" },
    wave: { type: "string", default: "200" },
    postgres: { type: "string" },
  },
});
const USERS = Number(values.users);
const WAVES = Number(values.waves);
const WAVE = Number(values.wave);

async function open(): Promise<{ storage: Storage; done: () => Promise<void> }> {
  if (!values.postgres) {
    const dir = mkdtempSync(join(tmpdir(), "bench-inbox-"));
    const storage = await openStorage({ DATABASE_PATH: join(dir, "b.db") });
    return { storage, done: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = new SQL(values.postgres, { max: 1 });
  const name = `bench_inbox_${process.pid}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(values.postgres);
  url.pathname = `/${name}`;
  const storage = await openStorage({ DATABASE_URL: url.toString() });
  return {
    storage,
    done: async () => {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    },
  };
}

const message = (id: string): InboundMessage => ({
  messageId: id,
  chatId: "oc_1",
  chatType: "p2p",
  sender: { openId: "ou_s" },
  mentionedBot: false,
  msgType: "text",
  text: "hello world",
  content: { text: "hello world" },
  mentions: [],
  createTime: 0,
});

const { storage, done } = await open();
const ids = Array.from({ length: USERS }, (_, i) => i + 1);
if (storage.dialect === "sqlite")
  for (const id of ids)
    storage.db.$client.run("INSERT INTO users (id, open_id) VALUES (?, ?)", [id, `ou_${id}`]);
else await storage.db.insert(pgUsers).values(ids.map((id) => ({ id, openId: `ou_${id}` })));
const store = createInboxStore(storage, { maxPending: 100_000, maxPendingBytes: 64 * 1024 * 1024 });
const inbox = new Inbox(store, { log: new Logger("error", () => {}), metrics: new Registry() });
const lastSent = new Map<number, number>();
let n = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let w = 0; w < WAVES; w++) {
  const accepted = [];
  for (let i = 0; i < WAVE; i++) {
    n += 1;
    accepted.push(
      inbox.accept({
        userId: 1 + (n % USERS),
        eventId: feishuLikeId(`e${n}`),
        message: message(`om_${feishuLikeId(`m${n}`)}`),
      }),
    );
  }
  await Promise.all(accepted);
  // Each connection reads on its own (in parallel on PostgreSQL, as plugin connections do).
  await Promise.all(
    ids.map(async (id) => {
      const rows = await inbox.pending(id, lastSent.get(id) ?? 0, 500);
      const last = rows.at(-1)?.seq;
      if (last !== undefined) {
        lastSent.set(id, last);
        inbox.ack(id, last);
      }
    }),
  );
}
await inbox.flushAcks();
const cpu = process.cpuUsage(cpu0);
const wallS = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    dialect: storage.dialect,
    users: USERS,
    events: n,
    eventsPerSec: Math.round(n / wallS),
    cpuUsPerEvent: Number(((cpu.user + cpu.system) / n).toFixed(1)),
  }),
);
await inbox.close();
await closeStorage(storage);
await done();
