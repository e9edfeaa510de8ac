/**
 * Small helpers for the users/web tests: a relay on a temp-dir SQLite file with a settable clock,
 * real plugin sockets (the relay listens on first use), and request shorthands for `app.handle`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Raw } from "../../src/config/definition.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { createSessionStore } from "../../src/relay/session-store.ts";
import { createRelay, type Relay } from "../../src/server.ts";
import { connect, type TestClient } from "../relay/ws-client.ts";
import { testDatabase } from "../storage/databases.ts";

export const ADMIN = "admin-token-0123456789abcdef";

export interface TestRelay extends Relay {
  dir: string;
  dbPath: string;
  clock: { t: number };
  lines: string[];
  /** A plugin connected with `token` (past its hello frame, its session recorded), as a real WebSocket. */
  plugin(token: string): Promise<TestClient>;
  cleanup(): Promise<void>;
}

export async function testRelay(raw: Raw = {}, fetchImpl?: typeof fetch): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "relay-users-"));
  const dbPath = join(dir, "relay.db");
  const clock = { t: Date.UTC(2026, 0, 15, 9, 0, 0) };
  const { log, lines } = memoryLogger();
  const database = await testDatabase(dir);
  const relay = await createRelay(
    { ...database.raw, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "debug", ...raw },
    { now: () => clock.t, log, ...(fetchImpl ? { fetch: fetchImpl } : {}) },
  );
  // Session rows, as written by the relay, for `plugin()` to wait on.
  const sessions = createSessionStore(relay.ctx.storage);
  let port: Promise<number> | undefined;
  const plugins: TestClient[] = [];
  return Object.assign(relay, {
    dir,
    dbPath,
    clock,
    lines,
    async plugin(token: string) {
      port ??= relay.listen();
      const client = connect(`ws://127.0.0.1:${await port}/openclaw`, { token });
      plugins.push(client);
      await client.next((f) => f.type === "hello");
      // The session row (and last_seen_at) is written just after the socket opens: wait for it.
      const userId = (await relay.ctx.tokens.verify(token))?.user.id;
      for (let i = 0; i < 200 && userId !== undefined; i++) {
        if ((await sessions.openSessionUsers()).has(userId)) break;
        await Bun.sleep(10);
      }
      return client;
    },
    async cleanup() {
      for (const p of plugins) p.close();
      await relay.stop();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export function req(
  path: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Request {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  return new Request(`http://localhost${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response fields freely
export async function json(res: Response): Promise<any> {
  return res.json();
}
