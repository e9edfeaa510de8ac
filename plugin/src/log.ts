/**
 * Logging for the plugin: one line per event, `feishu-relay: <event> key=value …`, through whatever
 * sink OpenClaw hands us (ctx.log) or the console.
 *
 * Never log the token or message text. The token travels in the URL (`?token=`), so anything that
 * may echo the URL — our own messages, WebSocket error strings — goes through `redact` first.
 */

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug?(msg: string): void;
}

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface EventLog {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
}

const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
};

function format(event: string, fields: LogFields | undefined, secrets: readonly string[]): string {
  let line = `feishu-relay: ${event}`;
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    const s = String(v);
    line += ` ${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
  }
  return redact(line, secrets);
}

/** Builds an event logger over `sink`; every line is scrubbed of `secrets`. */
export function eventLog(sink: Logger | undefined, secrets: readonly string[] = []): EventLog {
  const out = sink ?? consoleLogger;
  return {
    info: (e, f) => out.info(format(e, f, secrets)),
    warn: (e, f) => out.warn(format(e, f, secrets)),
    error: (e, f) => out.error(format(e, f, secrets)),
    debug: (e, f) => out.debug?.(format(e, f, secrets)),
  };
}

/** Replaces every occurrence of each secret (and any `token=` query value) with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out.replace(/([?&]token=)[^&\s"']+/gi, "$1***");
}

/** The relay URL as safe to show: scheme, host and path, never the query. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

/** A short, log-safe description of an unknown error value. */
export function errorText(err: unknown, secrets: readonly string[] = []): string {
  const text = err instanceof Error ? err.message : typeof err === "string" ? err : String(err);
  return redact(text, secrets).slice(0, 300);
}
