/**
 * Small helpers for the users/web tests: a relay on a temp-dir SQLite file with a settable clock,
 * a recording hub (the gateway seam), and request shorthands for `app.handle`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Raw } from "../../src/config/definition.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { createRelay, type Relay } from "../../src/server.ts";
import { testDatabase } from "../storage/databases.ts";

export const ADMIN = "admin-token-0123456789abcdef";

export interface TestRelay extends Relay {
  dir: string;
  dbPath: string;
  clock: { t: number };
  lines: string[];
  connected: Set<number>;
  disconnects: Array<{ userId: number; code: number; reason: string }>;
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
  const connected = new Set<number>();
  const disconnects: TestRelay["disconnects"] = [];
  relay.ctx.hub = {
    isConnected: (id) => connected.has(id),
    disconnect: (userId, code, reason) => {
      disconnects.push({ userId, code, reason });
      connected.delete(userId);
    },
  };
  return Object.assign(relay, {
    dir,
    dbPath,
    clock,
    lines,
    connected,
    disconnects,
    async cleanup() {
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
