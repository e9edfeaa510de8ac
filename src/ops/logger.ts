/**
 * JSON logs: one line per event on stdout with a stable `event` name. Plain writes, no transports
 * (pino transports spawn workers that break inside a compiled binary).
 */
import { writeSync } from "node:fs";
import type { LogLevel } from "../config/definition.ts";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Field names that never reach a log line, whatever a caller passes. */
const REDACTED = /token|secret|password|authorization|apikey|api_key|encrypt|cookie/i;

/**
 * Bounds on what one field may put in a line: fields often carry what a client sent (a header, an
 * error message quoting input), and a log line must never grow with attacker input.
 */
export const MAX_LOG_STRING = 1024;
const MAX_LOG_ITEMS = 20;
const MAX_LOG_DEPTH = 4;

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;
/** Sees every written entry after redaction and bounding (the admin console's recent errors). */
export type LogTap = (entry: Readonly<LogFields>) => void;

let stdoutSink: LogSink | undefined;

/**
 * The process's stdout sink: lines of one event-loop turn leave in one write (one syscall per burst
 * instead of one per line, ~10% of the relay's hot path at LOG_LEVEL=info). Flushed when the process
 * exits; a kill -9 can lose at most the current turn's lines.
 */
export function bufferedStdout(): LogSink {
  if (stdoutSink) return stdoutSink;
  let pending: string[] = [];
  let scheduled = false;
  /** The buffered lines as one chunk (empty when there are none). */
  const take = () => {
    const out = pending.length ? `${pending.join("\n")}\n` : "";
    pending = [];
    return out;
  };
  const flush = () => {
    scheduled = false;
    const out = take();
    if (out) writeStdout(out);
  };
  // At exit nothing asynchronous runs any more: what is left goes out with blocking writes.
  process.on("exit", () => {
    const bytes = Buffer.from(take());
    for (let r = writeFrom(processStdout, bytes, 0); r.code === "EAGAIN"; )
      r = writeFrom(processStdout, bytes, r.off);
  });
  stdoutSink = (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return stdoutSink;
}

/** How the stdout writer reaches the process's stdout; tests pass their own. */
export interface StdoutPort {
  /** Like `fs.writeSync(1, bytes, off)`: bytes written, or throws (EAGAIN when full and non-blocking). */
  writeSync(bytes: Buffer, off: number): number;
  /** Queues bytes behind what is queued already and returns at once (`process.stdout.write`). */
  queue(bytes: Uint8Array | string): void;
}

const processStdout: StdoutPort = {
  writeSync: (bytes, off) => writeSync(1, bytes, off),
  queue: (bytes) => process.stdout.write(bytes),
};

/**
 * Writes straight to fd 1, as Node's process.stdout does on Linux pipes and files anyway. Touching
 * `process.stdout` builds a stream and loads Node's stream modules: ~4 MB of RSS and ~8 ms of every
 * start (bench/startup.ts). A non-blocking stdout that is full (EAGAIN) hands the rest to the queue
 * (process.stdout), and every later chunk goes the same way to keep the order: nothing is lost or
 * spun on. Other errors (EPIPE: nobody reads) drop the chunk.
 */
export function stdoutWriter(port: StdoutPort = processStdout): (out: string) => void {
  let queued = false;
  return (out) => {
    if (queued) return port.queue(out);
    const bytes = Buffer.from(out);
    const r = writeFrom(port, bytes, 0);
    if (r.code !== "EAGAIN") return;
    queued = true;
    port.queue(bytes.subarray(r.off));
  };
}

const writeStdout = stdoutWriter();

/** Writes `bytes` from `off` on; stops at the end or at an error, saying how far it got. */
function writeFrom(port: StdoutPort, bytes: Buffer, off: number): { off: number; code?: string } {
  try {
    while (off < bytes.length) off += port.writeSync(bytes, off);
    return { off };
  } catch (err) {
    return { off, code: (err as NodeJS.ErrnoException).code ?? "EIO" };
  }
}

export class Logger {
  constructor(
    readonly level: LogLevel = "info",
    private readonly sink: LogSink = bufferedStdout(),
    private readonly base: LogFields = {},
    private readonly now: () => number = Date.now,
    /** Shared with children, so a tap added once sees every module's lines. */
    private readonly taps: LogTap[] = [],
  ) {}

  child(fields: LogFields): Logger {
    return new Logger(this.level, this.sink, { ...this.base, ...fields }, this.now, this.taps);
  }

  /** Adds a tap for this logger and all its children (existing and future). */
  tap(fn: LogTap): void {
    this.taps.push(fn);
  }

  /** Whether lines at `level` are written: hot paths build their fields only when they are. */
  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[this.level];
  }

  debug(event: string, fields?: LogFields) {
    this.write("debug", event, fields);
  }
  info(event: string, fields?: LogFields) {
    this.write("info", event, fields);
  }
  warn(event: string, fields?: LogFields) {
    this.write("warn", event, fields);
  }
  error(event: string, fields?: LogFields) {
    this.write("error", event, fields);
  }

  private write(level: LogLevel, event: string, fields?: LogFields) {
    if (LEVELS[level] < LEVELS[this.level]) return;
    const entry: LogFields = { time: new Date(this.now()).toISOString(), level, event };
    for (const [k, v] of Object.entries({ ...this.base, ...fields })) {
      entry[bounded(k, 0) as string] = REDACTED.test(k) ? "[redacted]" : bounded(v, 0);
    }
    this.sink(JSON.stringify(entry));
    for (const tap of this.taps) tap(entry);
  }
}

function errorFields(err: Error) {
  return { name: err.name, message: err.message };
}

/** Strings cut at MAX_LOG_STRING with a marker; arrays, objects and nesting cut likewise. */
export function bounded(value: unknown, depth: number): unknown {
  if (typeof value === "string") {
    return value.length > MAX_LOG_STRING
      ? `${value.slice(0, MAX_LOG_STRING)}…[truncated ${value.length - MAX_LOG_STRING} chars]`
      : value;
  }
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error) return bounded(errorFields(value), depth);
  if (depth >= MAX_LOG_DEPTH) return "[nested]";
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_LOG_ITEMS).map((v) => bounded(v, depth + 1));
    if (value.length > MAX_LOG_ITEMS) items.push(`…[${value.length - MAX_LOG_ITEMS} more]`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (n++ === MAX_LOG_ITEMS) {
      out["…"] = "[more keys]";
      break;
    }
    out[bounded(k, MAX_LOG_DEPTH) as string] = bounded(v, depth + 1);
  }
  return out;
}

/** A logger that keeps lines in memory: tests assert on events and on what never appears. */
export function memoryLogger(level: LogLevel = "debug"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger(level, (l) => lines.push(l)), lines };
}
