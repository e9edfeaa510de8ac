/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever COMMIT
 * crosses 1,000 WAL pages — on the relay's event loop — and copies those pages into the database file
 * and fsyncs it. With Feishu's random message ids every group commit dirties pages all over the
 * `inbox(message_id)` index, and those checkpoints cost more event-loop time than the inserts
 * themselves. A worker with its own connection checkpoints instead (PASSIVE: it never blocks the
 * writer); the main connection's automatic checkpoint is off while the worker runs and comes back if
 * the worker fails or stops.
 *
 * The worker starts on first use (`ensureStarted`, called after a commit), so an idle relay does not
 * pay for its thread. Its source is inline (a Blob URL) so that the compiled binary needs no file.
 */
import type { Database } from "bun:sqlite";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import { walDatabaseFile } from "./open.ts";

/** SQLite's default `wal_autocheckpoint`, restored when the worker is not running. */
const AUTOCHECKPOINT_PAGES = 1000;
/**
 * The worker's fallback when the loop's rewinds (REWIND_FRAMES) do not get there, e.g. while the
 * worker's passes keep the checkpoint lock: a WAL this long is restarted (RESTART: copy what is left,
 * then the next commit writes from the start of the file again). PASSIVE alone never gets there under
 * steady writes: SQLite rewinds the WAL only when a write transaction begins with every frame already
 * copied, and with a commit every millisecond or two some frames are always newer than the checkpoint.
 * A WAL that only grows makes each WAL sync extend the file (a journal commit per fdatasync, slower)
 * until a RESTART of 200 MB stalls the writer for 200 ms. RESTART briefly holds the write lock, so it
 * runs right after a PASSIVE pass: little is left to copy. 16,384 frames (64 MB of 4 KB pages) matches
 * journal_size_limit (db/open.ts).
 */
export const RESTART_FRAMES = 16_384;
/**
 * A WAL this long is rewound by the main connection itself: once the worker reports it (after a
 * pass), the loop runs one PASSIVE checkpoint of its own between two commits (the few frames the
 * worker has not copied yet), so every frame is copied when the next commit begins and SQLite writes
 * that commit at the start of the file. The WAL then stays this size and each commit overwrites
 * blocks already written: an fdatasync of appended blocks also commits the file system's journal
 * (the file grew), which made the relay's fsyncs slower in the tail than the bare limit's (whose
 * own automatic checkpoints keep its WAL at ~1,000 pages). No lock is waited for: a worker pass
 * under way makes the attempt return at once, and the next commit tries again.
 */
export const REWIND_FRAMES = 2_048;

const WORKER_SOURCE = `
import { Database } from "bun:sqlite";
let db;
let timer;
let last = "";
const RESTART_FRAMES = ${RESTART_FRAMES};
function step() {
  try {
    const t0 = performance.now();
    let r = db.query("PRAGMA wal_checkpoint(PASSIVE)").get();
    if (r.log >= RESTART_FRAMES) r = db.query("PRAGMA wal_checkpoint(RESTART)").get();
    // Idle passes find the same WAL again; only passes that had something to copy are reported.
    const now = r.log + "/" + r.checkpointed;
    if (r.checkpointed > 0 && now !== last) postMessage({ type: "checkpoint", frames: r.log, copied: r.checkpointed, ms: performance.now() - t0 });
    last = now;
  } catch (err) {
    postMessage({ type: "error", message: String(err && err.message || err) });
  }
}
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "start") {
    try {
      db = new Database(m.path);
      db.exec("PRAGMA busy_timeout = 1000");
      timer = setInterval(step, m.intervalMs);
      postMessage({ type: "started" });
    } catch (err) {
      postMessage({ type: "error", message: String(err && err.message || err), fatal: true });
    }
  } else if (m.type === "stop") {
    clearInterval(timer);
    try { db && db.close(); } catch {}
    postMessage({ type: "stopped" });
  }
};
`;

type WorkerMessage =
  | { type: "started" | "stopped" }
  | { type: "checkpoint"; frames: number; copied: number; ms: number }
  | { type: "error"; message: string; fatal?: boolean };

/** What the worker did, for observers (tests wait on these instead of polling the file system). */
export type CheckpointerEvent =
  | { type: "started" }
  | { type: "checkpoint"; frames: number; copied: number }
  | { type: "failed"; message: string };

export interface CheckpointerOptions {
  log: Logger;
  metrics: Registry;
  intervalMs?: number;
  /** WAL frames at which the main connection rewinds the WAL (default REWIND_FRAMES). */
  rewindFrames?: number;
  onEvent?: (event: CheckpointerEvent) => void;
}

export class Checkpointer {
  readonly #sqlite: Database;
  readonly #path: string | undefined;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #rewindFrames: number;
  readonly #onEvent: ((event: CheckpointerEvent) => void) | undefined;
  readonly #m;
  #worker: Worker | undefined;
  #sourceUrl: string | undefined;
  #stopped = false;
  /** WAL frames at the worker's last pass (0 once rewound). */
  #walFrames = 0;
  #rewindScheduled = false;

  constructor(sqlite: Database, opts: CheckpointerOptions) {
    this.#sqlite = sqlite;
    this.#path = walDatabaseFile(sqlite);
    this.#log = opts.log.child({ module: "checkpointer" });
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#rewindFrames = opts.rewindFrames ?? REWIND_FRAMES;
    this.#onEvent = opts.onEvent;
    this.#m = {
      runs: opts.metrics.counter("sqlite_checkpoints_total", "WAL checkpoints by the checkpoint worker."),
      frames: opts.metrics.gauge("sqlite_wal_frames", "WAL frames at the last checkpoint."),
      seconds: opts.metrics.histogram(
        "sqlite_checkpoint_seconds",
        "Time the checkpoint worker spent per checkpoint.",
        [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      ),
      rewinds: opts.metrics.counter(
        "sqlite_wal_rewinds_total",
        "Times the main connection copied the WAL's last frames so that the next commit starts it over.",
      ),
    };
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Starts the worker unless it runs, was stopped, or the database has no WAL file. Cheap to repeat. */
  ensureStarted(): void {
    if (this.#worker || this.#stopped || !this.#path) return;
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    // The thread must not keep the process alive (shutdown stops it explicitly); a small heap is enough.
    const worker = new Worker(url, { ref: false, smol: true });
    // The URL must live until the worker has loaded its source.
    this.#sourceUrl = url;
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => this.#onMessage(e.data);
    worker.onerror = (e) => this.#fail(e.message);
    this.#worker = worker;
    this.#sqlite.run("PRAGMA wal_autocheckpoint = 0");
    worker.postMessage({ type: "start", path: this.#path, intervalMs: this.#intervalMs });
  }

  /**
   * After a group commit: starts the worker on first use, and once the WAL has reached REWIND_FRAMES
   * rewinds it from the loop, after this turn (the commit's answers go out first).
   */
  afterCommit(): void {
    this.ensureStarted();
    if (this.#walFrames < this.#rewindFrames || this.#rewindScheduled || !this.#worker) return;
    this.#rewindScheduled = true;
    setImmediate(() => this.#rewind());
  }

  #rewind(): void {
    this.#rewindScheduled = false;
    if (!this.#worker || this.#sqlite.inTransaction) return;
    try {
      const r = this.#sqlite
        .query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)")
        .get();
      // Every frame copied: the next commit starts the WAL over. Otherwise (the worker's pass holds the
      // checkpoint lock) the next commit asks again.
      if (r && r.busy === 0 && r.checkpointed >= r.log) {
        this.#walFrames = 0;
        this.#m.rewinds.inc();
      }
    } catch (err) {
      this.#log.warn("wal_rewind_failed", { err: err as Error });
    }
  }

  /** Stops the worker and hands checkpoints back to the main connection (which checkpoints at close). */
  async stop(): Promise<void> {
    this.#stopped = true;
    const worker = this.#worker;
    if (!worker) return;
    const stopped = new Promise<void>((resolve) => {
      worker.addEventListener("message", (e: MessageEvent<WorkerMessage>) => {
        if (e.data.type === "stopped") resolve();
      });
      setTimeout(resolve, 2000).unref();
    });
    worker.postMessage({ type: "stop" });
    await stopped;
    this.#release();
  }

  #onMessage(m: WorkerMessage): void {
    if (m.type === "checkpoint") {
      this.#m.runs.inc();
      this.#m.frames.set(m.frames);
      this.#walFrames = m.frames;
      this.#m.seconds.observe(m.ms / 1000);
      this.#onEvent?.({ type: "checkpoint", frames: m.frames, copied: m.copied });
    } else if (m.type === "started") {
      this.#revokeSource();
      this.#log.debug("checkpointer_started", {});
      this.#onEvent?.({ type: "started" });
    } else if (m.type === "error") {
      if (m.fatal) this.#fail(m.message);
      else this.#log.warn("checkpoint_failed", { message: m.message });
    }
  }

  /** The worker cannot run: the main connection checkpoints by itself again. */
  #fail(message: string): void {
    this.#log.error("checkpointer_failed", { message });
    this.#stopped = true;
    this.#release();
    this.#onEvent?.({ type: "failed", message });
  }

  #revokeSource(): void {
    if (this.#sourceUrl) URL.revokeObjectURL(this.#sourceUrl);
    this.#sourceUrl = undefined;
  }

  #release(): void {
    this.#revokeSource();
    this.#worker?.terminate();
    this.#worker = undefined;
    try {
      this.#sqlite.run(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    } catch (err) {
      // Already closed (a late worker error during shutdown): nothing left to hand back.
      this.#log.debug("checkpointer_release_skipped", { err: err as Error });
    }
  }
}
