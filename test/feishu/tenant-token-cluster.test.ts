/**
 * The tenant token in cluster mode: three nodes (three pools on one PostgreSQL database) share one
 * token through kv, and the advisory lock makes nodes that need one at the same moment ask Feishu once.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createKv } from "../../src/db/kv.ts";
import { REFRESH_AHEAD_MS, tenantTokenLock } from "../../src/feishu/tenant-token.ts";
import { closeStorage, openStorage, type Storage } from "../../src/storage/storage.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { freshPostgresUrl, postgresReachable } from "../storage/databases.ts";
import { clientStack } from "./client-stack.ts";
import { VirtualTime } from "./virtual-time.ts";

const pgUp = await postgresReachable();
const vt = new VirtualTime();
let fake: FakeFeishu;
let nodes: Storage[] = [];
let drop: () => Promise<void>;

beforeAll(async () => {
  fake = await startFakeFeishu({ clock: vt.now });
});
afterAll(() => fake.stop());

beforeEach(async () => {
  fake.reset();
  fake.expireAllTokens();
  // A slow token endpoint: without the lock every node would be fetching at once, never by luck one.
  fake.setDelay(150, { scope: "all" });
  if (!pgUp) return;
  const db = await freshPostgresUrl();
  drop = db.drop;
  nodes = await Promise.all([1, 2, 3].map(() => openStorage({ DATABASE_URL: db.url })));
});
afterEach(async () => {
  for (const s of nodes) await closeStorage(s);
  nodes = [];
  if (pgUp) await drop();
});

/** One token manager per node, each with its own memory, kv adapter and (optionally) the lock. */
function managers(locked = true) {
  return nodes.map((storage) => {
    if (storage.dialect !== "postgres") throw new Error("postgres expected");
    const lock = locked ? { lock: tenantTokenLock(storage.db) } : {};
    return clientStack(fake, { now: vt.now, kv: createKv(storage, vt.now), tokenOptions: lock }).tokens;
  });
}

describe.skipIf(!pgUp)("tenant token in a cluster [postgres]", () => {
  test("three nodes needing a token at the same moment make one Feishu call and share it", async () => {
    const tokens = await Promise.all(managers().flatMap((m) => [m.get(), m.get()]));
    expect(new Set(tokens).size).toBe(1);
    expect(fake.tokenFetches).toBe(1);
  });

  test("near expiry, one node refreshes for all; the others read the new token after the lock", async () => {
    const [a, b, c] = managers();
    const first = await a!.get();
    expect(await b!.get()).toBe(first);
    expect(fake.tokenFetches).toBe(1);
    // Past the usable margin: every node must wait for a new token, and only one asks Feishu.
    vt.advance(7200 * 1000 - 10_000);
    const renewed = await Promise.all([a!.get(), b!.get(), c!.get()]);
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).not.toBe(first);
    expect(fake.tokenFetches).toBe(2);
    // In the background-refresh window too, the stored fresh token is what the others pick up.
    vt.advance(7200 * 1000 - REFRESH_AHEAD_MS + 60_000);
    const old = await Promise.all([a!.get(), b!.get(), c!.get()]);
    expect(old).toEqual([renewed[0]!, renewed[0]!, renewed[0]!]); // served while refreshing
    // Each node's memory changes only when its own background refresh is done.
    const deadline = Date.now() + 5000;
    let now = old;
    while (now.some((t) => t === renewed[0]) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      now = await Promise.all([a!.get(), b!.get(), c!.get()]);
    }
    expect(new Set(now).size).toBe(1);
    expect(now[0]).not.toBe(renewed[0]);
    expect(fake.tokenFetches).toBe(3);
  });

  test("without the lock, each node would fetch its own (what the lock prevents)", async () => {
    await Promise.all(managers(false).map((m) => m.get()));
    expect(fake.tokenFetches).toBe(3);
  });
});
