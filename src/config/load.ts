/**
 * Loads the configuration with its precedence: flags > environment (with `.env`, loaded by Bun) >
 * database > defaults.
 */

import { closeSync, existsSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Kv } from "../db/kv.ts";
import { randomToken } from "../ops/crypto.ts";
import { type Config, ConfigError, type Raw, resolveConfig, VARIABLES } from "./definition.ts";
import { mergeSources } from "./sources.ts";

export const DB_CONFIG_PREFIX = "config.";
export const DEFAULT_DATABASE_PATH = "./data/relay.db";

/**
 * Values shipped in deploy/openclaw-relay.env.example: a relay started with one of them would run
 * with a secret everybody can read in the repository.
 */
export const PLACEHOLDERS: Record<string, string[]> = {
  ADMIN_TOKEN: ["change-me-to-a-long-random-string"],
  FEISHU_APP_SECRET: ["change-me"],
  FEISHU_APP_ID: ["cli_xxxxxxxxxxxxxxxx"],
};

/** Throws ConfigError when a variable still holds the example file's placeholder. */
export function refusePlaceholders(raw: Raw): void {
  for (const [name, values] of Object.entries(PLACEHOLDERS)) {
    if (raw[name] !== undefined && values.includes(raw[name])) {
      throw new ConfigError(
        name,
        "still holds the placeholder of openclaw-relay.env.example; set a real value",
      );
    }
  }
}

/**
 * Throws ConfigError unless the relay can write its database: the file (when it exists) and the
 * directory it lives in (SQLite creates -wal and -shm there). Tried for real with a probe file, since
 * permission bits say nothing for root or on a read-only mount.
 */
export function checkDatabasePath(path: string): void {
  if (path === ":memory:") return;
  const fail = (why: string): never => {
    throw new ConfigError("DATABASE_PATH", `${path}: ${why}`);
  };
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) fail("is a directory, not a database file");
    try {
      closeSync(openSync(path, "r+"));
    } catch (err) {
      fail(`cannot be opened for writing (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  // The first existing ancestor: openDatabase creates the missing directories below it.
  let dir = dirname(resolve(path));
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) fail(`${dir} is not a directory`);
  const probe = join(dir, `.openclaw-relay-write-test-${process.pid}`);
  try {
    closeSync(openSync(probe, "wx"));
    unlinkSync(probe);
  } catch (err) {
    fail(`directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/**
 * Everything but the database layer: enough to know DATABASE_PATH and to validate early. `env` is
 * process.env, into which Bun has already loaded `.env` (sources.ts).
 */
export function readRawConfig(opts: { flags: Raw; env: Raw }): Raw {
  return mergeSources({ flags: opts.flags, env: opts.env, db: {} });
}

/** Values an operator stored in the database (`kv` keys `config.<NAME>`). */
export async function readDbConfig(kv: Kv): Promise<Raw> {
  const out: Raw = {};
  const values = await Promise.all(VARIABLES.map((v) => kv.get(DB_CONFIG_PREFIX + v.name)));
  VARIABLES.forEach((v, i) => {
    if (values[i] !== undefined) out[v.name] = values[i];
  });
  return out;
}

/** Final config: database values fill what flags/env left unset; JWT_SECRET is generated once. */
export async function finishConfig(raw: Raw, kv: Kv): Promise<Config> {
  const merged = { ...(await readDbConfig(kv)), ...raw };
  const config = resolveConfig(merged);
  if (!config.JWT_SECRET) {
    // Nodes of a cluster starting together: the first one's secret wins, every node reads it back.
    const key = `${DB_CONFIG_PREFIX}JWT_SECRET`;
    await kv.setIfAbsent(key, randomToken(48), null);
    config.JWT_SECRET = await kv.get(key);
  }
  return config;
}
