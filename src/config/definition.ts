import type { RenderMode } from "../relay/protocol.ts";

/**
 * The one definition of every configuration variable (DESIGN §2): defaults, parsing, validation and
 * the `--help` text all come from this table. Pure: no I/O.
 */

export type Raw = Record<string, string | undefined>;

interface VarSpec<T> {
  /** Environment name (contract). The flag is `--` + lower-case kebab of it. */
  name: string;
  help: string;
  secret?: boolean;
  /** Default as shown in --help; the real default may depend on other values (see `resolve`). */
  defaultText?: string;
  parse(value: string | undefined, raw: Raw): T;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

const fail = (name: string, message: string): never => {
  throw new ConfigError(name, message);
};

const str =
  (_name: string, def?: string) =>
  (v: string | undefined): string | undefined =>
    v === undefined || v === "" ? def : v;

function int(name: string, def: number, min: number, max: number) {
  return (v: string | undefined): number => {
    if (v === undefined || v === "") return def;
    if (!/^\d+$/.test(v)) return fail(name, `must be a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) return fail(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function bool(name: string, def: boolean) {
  return (v: string | undefined): boolean => {
    if (v === undefined || v === "") return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    return fail(name, `must be true or false, got "${v}"`);
  };
}

function oneOf<T extends string>(name: string, def: T, values: readonly T[]) {
  return (v: string | undefined): T => {
    if (v === undefined || v === "") return def;
    if ((values as readonly string[]).includes(v)) return v as T;
    return fail(name, `must be one of ${values.join(", ")}, got "${v}"`);
  };
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `30d`, `12h`, `90m`, `45s` or plain seconds into seconds. */
export function parseDuration(name: string, v: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m) return fail(name, `must be a duration like 30d, 12h, 90m or 3600, got "${v}"`);
  const seconds = Number(m[1]) * (DURATION_UNITS[m[2] || "s"] ?? 1);
  if (seconds <= 0) return fail(name, "must be longer than zero");
  return seconds;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses `64MiB`, `64M`, `512KiB`, `1GiB` or plain bytes (binary units, case-insensitive) into bytes. */
export function parseSize(name: string, v: string, min = 1): number {
  const m = /^(\d+)\s*(?:([kmg])(?:i?b)?|b)?$/i.exec(v.trim());
  if (!m) return fail(name, `must be a size like 64MiB, 512KiB or a number of bytes, got "${v}"`);
  const bytes = Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(bytes) || bytes < min)
    return fail(name, `must be at least ${min} bytes, got "${v}"`);
  return bytes;
}

function url(name: string, v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return v.replace(/\/+$/, "");
  } catch {
    return fail(name, `must be an http(s) URL, got "${v}"`);
  }
}

export type EventMode = "webhook" | "ws" | "both";
export type { RenderMode } from "../relay/protocol.ts";
export type LogLevel = "debug" | "info" | "warn" | "error";

const spec = {
  HOST: { name: "HOST", help: "listen address", parse: str("HOST", "0.0.0.0") },
  PORT: { name: "PORT", help: "HTTP + WebSocket port", parse: int("PORT", 5178, 0, 65535) },
  DATABASE_PATH: {
    name: "DATABASE_PATH",
    help: "SQLite file, created with its folder; ':memory:' allowed",
    parse: str("DATABASE_PATH", "./data/relay.db"),
  },
  DATABASE_URL: {
    name: "DATABASE_URL",
    help: "postgres://… switches to cluster mode on PostgreSQL (DATABASE_PATH is then ignored)",
    // Its password must never reach a log line; `redactUrl` is what may be printed.
    secret: true,
    parse: (v: string | undefined) => {
      if (!v) return undefined;
      if (!/^postgres(ql)?:\/\//.test(v))
        fail("DATABASE_URL", "must start with postgres:// or postgresql://");
      try {
        new URL(v);
      } catch {
        fail("DATABASE_URL", "is not a valid URL");
      }
      return v;
    },
  },
  NODE_ID: {
    name: "NODE_ID",
    help: "this process's name in a cluster (/health, /metrics, the console)",
    defaultText: "<hostname>-<random>",
    parse: (v: string | undefined) => {
      if (v && !/^[A-Za-z0-9._-]{1,64}$/.test(v)) fail("NODE_ID", "must be 1-64 of A-Z a-z 0-9 . _ -");
      return v || undefined;
    },
  },
  PUBLIC_URL: {
    name: "PUBLIC_URL",
    help: "how users reach the relay (OAuth redirect, links in chat)",
    defaultText: "http://localhost:$PORT",
    parse: (v: string | undefined) => (v ? url("PUBLIC_URL", v) : undefined),
  },
  JWT_SECRET: {
    name: "JWT_SECRET",
    help: "HS256 secret for user tokens (at least 32 characters)",
    secret: true,
    defaultText: "generated once, stored in the database",
    parse: (v: string | undefined) => {
      if (v && v.length < 32) fail("JWT_SECRET", "must be at least 32 characters long");
      return v || undefined;
    },
  },
  JWT_EXPIRES_IN: {
    name: "JWT_EXPIRES_IN",
    help: "user token lifetime (e.g. 30d, 12h)",
    defaultText: "30d",
    parse: (v: string | undefined) => parseDuration("JWT_EXPIRES_IN", v || "30d"),
  },
  ADMIN_TOKEN: {
    name: "ADMIN_TOKEN",
    help: "bearer token for /api/admin/* (unset: admin API off); at least 16 characters",
    secret: true,
    parse: (v: string | undefined) => {
      if (v && v.length < 16) fail("ADMIN_TOKEN", "must be at least 16 characters long");
      return v || undefined;
    },
  },
  ADMIN_OPEN_IDS: {
    name: "ADMIN_OPEN_IDS",
    help: "comma-separated Feishu open_ids (ou_…) who may sign in to the admin console at /admin",
    parse: (v: string | undefined): string[] => {
      const ids = (v ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      for (const id of ids)
        if (!/^ou_[A-Za-z0-9_-]+$/.test(id)) fail("ADMIN_OPEN_IDS", `"${id}" is not an open_id (ou_…)`);
      return ids;
    },
  },
  FEISHU_APP_ID: { name: "FEISHU_APP_ID", help: "the bot app's App ID (cli_…)", parse: str("FEISHU_APP_ID") },
  FEISHU_APP_SECRET: {
    name: "FEISHU_APP_SECRET",
    help: "the bot app's App Secret",
    secret: true,
    parse: str("FEISHU_APP_SECRET"),
  },
  FEISHU_ENCRYPT_KEY: {
    name: "FEISHU_ENCRYPT_KEY",
    help: "when set, webhook bodies are decrypted and signatures checked",
    secret: true,
    parse: str("FEISHU_ENCRYPT_KEY"),
  },
  FEISHU_VERIFICATION_TOKEN: {
    name: "FEISHU_VERIFICATION_TOKEN",
    help: "when set, the events' verification token must match",
    secret: true,
    parse: str("FEISHU_VERIFICATION_TOKEN"),
  },
  FEISHU_DOMAIN: {
    name: "FEISHU_DOMAIN",
    help: "feishu, lark, or a base URL (http://127.0.0.1:9000) for every Feishu call",
    parse: (v: string | undefined) => {
      const d = v || "feishu";
      return d === "feishu" || d === "lark" ? d : url("FEISHU_DOMAIN", d);
    },
  },
  FEISHU_EVENT_MODE: {
    name: "FEISHU_EVENT_MODE",
    help: "webhook, ws (long connection) or both",
    parse: oneOf<EventMode>("FEISHU_EVENT_MODE", "webhook", ["webhook", "ws", "both"]),
  },
  FEISHU_RATE_APP: {
    name: "FEISHU_RATE_APP",
    help: "Feishu calls per second, app-wide, for each API (sends, card updates, reactions, uploads each have this budget; 20× per minute)",
    parse: int("FEISHU_RATE_APP", 50, 1, 1000),
  },
  FEISHU_RATE_CHAT: {
    name: "FEISHU_RATE_CHAT",
    help: "sends per second to one chat",
    parse: int("FEISHU_RATE_CHAT", 5, 1, 100),
  },
  FEISHU_RENDER_MODE: {
    name: "FEISHU_RENDER_MODE",
    help: "how markdown replies are shown: auto (a card when the text has code blocks or tables, a post otherwise), post, or card; a plugin may choose per send",
    parse: oneOf<RenderMode>("FEISHU_RENDER_MODE", "auto", ["auto", "post", "card"]),
  },
  FEISHU_TYPING: {
    name: "FEISHU_TYPING",
    help: "show a Typing reaction on a user's message while their agent works on it (costs two Feishu calls per message)",
    parse: bool("FEISHU_TYPING", true),
  },
  FEISHU_TYPING_TIMEOUT: {
    name: "FEISHU_TYPING_TIMEOUT",
    help: "the Typing reaction is removed after this long even if the agent has not answered (e.g. 10m)",
    defaultText: "10m",
    parse: (v: string | undefined) => parseDuration("FEISHU_TYPING_TIMEOUT", v || "10m"),
  },
  FEISHU_STREAMING: {
    name: "FEISHU_STREAMING",
    help: "let plugins stream answers into one card as they are generated (feature stream; needs the cardkit:card:write scope)",
    parse: bool("FEISHU_STREAMING", true),
  },
  FEISHU_STREAM_INTERVAL_MS: {
    name: "FEISHU_STREAM_INTERVAL_MS",
    help: "least time between two updates of one streaming card, in ms (Feishu allows 10 per second per card); more streams at once widen it further to keep the app-wide limit",
    parse: int("FEISHU_STREAM_INTERVAL_MS", 200, 100, 60_000),
  },
  FEISHU_STREAM_IDLE: {
    name: "FEISHU_STREAM_IDLE",
    help: "a streaming card without a new draft for this long is closed with what it shows (e.g. 10m; Feishu itself stops streaming after 10 minutes)",
    defaultText: "10m",
    parse: (v: string | undefined) => parseDuration("FEISHU_STREAM_IDLE", v || "10m"),
  },
  FEISHU_CONTEXT: {
    name: "FEISHU_CONTEXT",
    help: "after storing a message, fetch what it refers to (the quoted message, a forwarded chat's messages, the group's name) and deliver it with the message; in groups this needs the im:message.group_msg scope",
    parse: bool("FEISHU_CONTEXT", true),
  },
  FEISHU_CONTEXT_TIMEOUT: {
    name: "FEISHU_CONTEXT_TIMEOUT",
    help: "how long a stored message may wait for its context before it is delivered without it (e.g. 3s)",
    defaultText: "3s",
    parse: (v: string | undefined) => parseDuration("FEISHU_CONTEXT_TIMEOUT", v || "3s"),
  },
  CHAT_INFO_TTL: {
    name: "CHAT_INFO_TTL",
    help: "how long a group's name fetched from Feishu is reused before it is fetched again (e.g. 1h)",
    defaultText: "1h",
    parse: (v: string | undefined) => parseDuration("CHAT_INFO_TTL", v || "1h"),
  },
  INBOX_RETENTION: {
    name: "INBOX_RETENTION",
    help: "how long acked inbox messages are kept after they arrived (e.g. 7d; at least the 8 h dedupe window)",
    defaultText: "7d",
    parse: (v: string | undefined) => parseDuration("INBOX_RETENTION", v || "7d"),
  },
  INBOX_MAX_PENDING: {
    name: "INBOX_MAX_PENDING",
    help: "unacked messages kept per user while their agent is offline; beyond it (or beyond INBOX_MAX_PENDING_BYTES) the oldest are dropped and the owner gets one Feishu DM saying how many",
    parse: int("INBOX_MAX_PENDING", 100_000, 10, 10_000_000),
  },
  INBOX_MAX_PENDING_BYTES: {
    name: "INBOX_MAX_PENDING_BYTES",
    help: "stored payload of unacked messages kept per user (e.g. 64MiB, 512KiB, 1GiB or plain bytes; at least 1MiB)",
    defaultText: "64MiB",
    parse: (v: string | undefined) => parseSize("INBOX_MAX_PENDING_BYTES", v || "64MiB", 1024 * 1024),
  },
  OUTBOX_DEADLINE: {
    name: "OUTBOX_DEADLINE",
    help: "how long a send that failed transiently is retried (e.g. 1h)",
    defaultText: "1h",
    parse: (v: string | undefined) => parseDuration("OUTBOX_DEADLINE", v || "1h"),
  },
  OUTBOX_MAX_QUEUED_PER_USER: {
    name: "OUTBOX_MAX_QUEUED_PER_USER",
    help: "sends one user may have queued or in flight; more are refused with rate_limited (HTTP 429)",
    parse: int("OUTBOX_MAX_QUEUED_PER_USER", 100, 1, 100_000),
  },
  MEDIA_MAX_BYTES: {
    name: "MEDIA_MAX_BYTES",
    help: "largest attachment a plugin may download (GET /api/media/:id) or upload (PUT /api/media), e.g. 30MiB (Feishu's own upload limit is 30 MB)",
    defaultText: "30MiB",
    parse: (v: string | undefined) => parseSize("MEDIA_MAX_BYTES", v || "30MiB", 1024),
  },
  MEDIA_RETENTION: {
    name: "MEDIA_RETENTION",
    help: "how long uploaded media that no send used are kept before they are deleted (e.g. 24h)",
    defaultText: "24h",
    parse: (v: string | undefined) => parseDuration("MEDIA_RETENTION", v || "24h"),
  },
  MEDIA_QUOTA_BYTES: {
    name: "MEDIA_QUOTA_BYTES",
    help: "uploaded media one user may have stored at a time (e.g. 256MiB); more is refused with media_quota_exceeded (HTTP 413)",
    defaultText: "256MiB",
    parse: (v: string | undefined) => parseSize("MEDIA_QUOTA_BYTES", v || "256MiB", 1024),
  },
  LLM_CONFIG_ENABLED: {
    name: "LLM_CONFIG_ENABLED",
    help: "serve LLM settings (including keys) to users at /api/config",
    parse: bool("LLM_CONFIG_ENABLED", true),
  },
  LLM_PROVIDERS: {
    name: "LLM_PROVIDERS",
    help: 'JSON: {"name":{"baseUrl","apiKey","model","api"?}, …} or a path to such a JSON file',
    secret: true,
    parse: str("LLM_PROVIDERS"),
  },
  LLM_DEFAULT_PROVIDER: {
    name: "LLM_DEFAULT_PROVIDER",
    help: "provider name used for users without an assignment",
    parse: str("LLM_DEFAULT_PROVIDER"),
  },
  METRICS_PUBLIC: {
    name: "METRICS_PUBLIC",
    help: "serve /metrics without ADMIN_TOKEN even when one is set",
    parse: bool("METRICS_PUBLIC", false),
  },
  LOG_LEVEL: {
    name: "LOG_LEVEL",
    help: "debug, info, warn or error (JSON logs to stdout)",
    parse: oneOf<LogLevel>("LOG_LEVEL", "info", ["debug", "info", "warn", "error"]),
  },
} satisfies Record<string, VarSpec<unknown>>;

type Spec = typeof spec;
export type VarName = keyof Spec;
type Parsed = { [K in VarName]: ReturnType<Spec[K]["parse"]> };

export interface Config extends Omit<Parsed, "PUBLIC_URL" | "JWT_SECRET"> {
  PUBLIC_URL: string;
  /** Absent until the store fills it from the database (generated once). */
  JWT_SECRET: string | undefined;
}

export const VARIABLES = Object.values(spec) as VarSpec<unknown>[];
export const SECRET_NAMES = new Set(VARIABLES.filter((v) => v.secret).map((v) => v.name));

export const flagFor = (name: string) => `--${name.toLowerCase().replaceAll("_", "-")}`;

/** Validates raw values (already merged by precedence) into a Config; throws ConfigError. */
export function resolveConfig(raw: Raw): Config {
  const out: Record<string, unknown> = {};
  for (const v of VARIABLES) out[v.name] = v.parse(raw[v.name], raw);
  const cfg = out as unknown as Config;
  cfg.PUBLIC_URL = (out.PUBLIC_URL as string | undefined) ?? `http://localhost:${cfg.PORT}`;
  if (Boolean(cfg.FEISHU_APP_ID) !== Boolean(cfg.FEISHU_APP_SECRET)) {
    fail(
      cfg.FEISHU_APP_ID ? "FEISHU_APP_SECRET" : "FEISHU_APP_ID",
      "FEISHU_APP_ID and FEISHU_APP_SECRET go together",
    );
  }
  return cfg;
}

/** The configuration part of `--help`: every variable with its flag, help and default. */
export function configHelp(): string {
  const rows = VARIABLES.map((v) => {
    const def = v.defaultText ?? defaultOf(v);
    return `  ${flagFor(v.name).padEnd(30)} ${v.name.padEnd(27)} ${v.help}${def ? ` (default: ${def})` : ""}`;
  });
  return [
    "Configuration (flag, environment variable; flags > environment and .env > database > defaults):",
    ...rows,
  ].join("\n");
}

function defaultOf(v: VarSpec<unknown>): string {
  try {
    const d = v.parse(undefined, {});
    return d === undefined ? "" : String(d);
  } catch {
    return "";
  }
}
