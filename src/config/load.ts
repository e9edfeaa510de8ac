/**
 * Loads the configuration with its precedence: flags > environment (with `.env`, loaded by Bun) >
 * database > defaults.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { KvStore } from "../db/kv.ts";
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
export function readDbConfig(kv: KvStore): Raw {
  const out: Raw = {};
  for (const v of VARIABLES) {
    const value = kv.get(DB_CONFIG_PREFIX + v.name);
    if (value !== undefined) out[v.name] = value;
  }
  return out;
}

/** Final config: database values fill what flags/env left unset; JWT_SECRET is generated once. */
export function finishConfig(raw: Raw, kv: KvStore): Config {
  const merged = { ...readDbConfig(kv), ...raw };
  const config = resolveConfig(merged);
  if (!config.JWT_SECRET) {
    config.JWT_SECRET = randomBytes(48).toString("base64url");
    kv.set(`${DB_CONFIG_PREFIX}JWT_SECRET`, config.JWT_SECRET);
  }
  return config;
}
