/**
 * The last warn/error log entries, kept in memory for the console's "recent errors" page. Entries come
 * from a Logger tap, so they are already redacted and bounded (ops/logger.ts); only the newest
 * RECENT_LOG_SIZE are kept, and nothing survives a restart (the JSON logs on stdout are the record).
 */
import type { LogFields, Logger } from "../ops/logger.ts";

export const RECENT_LOG_SIZE = 200;

export interface RecentEntry {
  time: string;
  level: "warn" | "error";
  event: string;
  fields: LogFields;
}

export class RecentLog {
  readonly #ring: RecentEntry[] = [];
  #next = 0;

  constructor(readonly size = RECENT_LOG_SIZE) {}

  /** A ring fed by `log` and its children (createRelay builds the process's one). */
  static tapping(log: Logger, size = RECENT_LOG_SIZE): RecentLog {
    const ring = new RecentLog(size);
    log.tap((e) => ring.add(e));
    return ring;
  }

  add(entry: Readonly<LogFields>): void {
    const level = entry.level;
    if (level !== "warn" && level !== "error") return;
    const { time, level: _l, event, ...fields } = entry;
    const item: RecentEntry = { time: String(time), level, event: String(event), fields };
    if (this.#ring.length < this.size) this.#ring.push(item);
    else this.#ring[this.#next] = item;
    this.#next = (this.#next + 1) % this.size;
  }

  /** Newest first. */
  list(): RecentEntry[] {
    const n = this.#ring.length;
    const out: RecentEntry[] = [];
    for (let i = 1; i <= n; i++) out.push(this.#ring[(this.#next - i + n) % n]!);
    return out;
  }
}
