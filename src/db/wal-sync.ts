/**
 * Group fsync of the WAL, off the main thread. The inbox commits its hot transactions with
 * `synchronous=NORMAL` (SQLite writes the WAL frames but does not fsync them) and then asks for
 * `sync()`: an fdatasync of the WAL file on Bun's I/O threads. Once it resolves, every frame written
 * before the call is on disk — the same guarantee `synchronous=FULL` gives at COMMIT — but the event
 * loop keeps parsing and committing the next requests while the disk works, instead of blocking in
 * COMMIT for every group (that was ~40% of the relay's time under load).
 *
 * Calls that arrive while an fsync is running wait for the next one (the running one may have
 * started before their frames were written); one fsync then covers all of them.
 */
import type { Database } from "bun:sqlite";
import { close, fdatasync, openSync } from "node:fs";
import { walDatabaseFile } from "./open.ts";

export type FdataSync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

export interface WalSyncOptions {
  /** The `-wal` file; undefined (an in-memory database) makes `sync()` resolve at once. */
  walPath: string | undefined;
  /** Injectable for tests. */
  fdatasync?: FdataSync;
}

export class WalSync {
  readonly #walPath: string | undefined;
  readonly #fdatasync: FdataSync;
  #fd: number | undefined;
  #running: Promise<void> | undefined;
  #next: PromiseWithResolvers<void> | undefined;

  constructor(opts: WalSyncOptions) {
    this.#walPath = opts.walPath;
    this.#fdatasync = opts.fdatasync ?? fdatasync;
  }

  /** For a database opened by `openDatabase`: its WAL file, or none for `:memory:`. */
  static forDatabase(sqlite: Database): WalSync {
    const file = walDatabaseFile(sqlite);
    return new WalSync({ walPath: file && `${file}-wal` });
  }

  /** No fsync is running or asked for: every commit before now is durable. */
  get idle(): boolean {
    return this.#running === undefined;
  }

  /** Settles (never rejects) once no fsync runs or is asked for; at once when none does. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running.catch(() => undefined);
  }

  /** Resolves once everything written to the WAL before this call is durable. */
  sync(): Promise<void> {
    if (!this.#walPath) return Promise.resolve();
    if (!this.#running) {
      this.#running = this.#start();
      return this.#running;
    }
    this.#next ??= Promise.withResolvers<void>();
    return this.#next.promise;
  }

  /**
   * Waits for the fsyncs under way, then releases the file descriptor. A later `sync()` (a request that
   * outlived the shutdown drain) opens it again rather than answering without an fsync.
   */
  async close(): Promise<void> {
    await this.settled();
    if (this.#fd !== undefined) close(this.#fd, () => undefined);
    this.#fd = undefined;
  }

  #start(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      try {
        // Opened on first use: SQLite creates the WAL with the first write. Linux fsyncs the file's
        // pages whichever descriptor asks, so a read-only one is enough.
        this.#fd ??= openSync(this.#walPath!, "r");
      } catch (err) {
        reject(err);
        return;
      }
      this.#fdatasync(this.#fd, (err) => (err ? reject(err) : resolve()));
    });
    const settle = () => {
      const next = this.#next;
      this.#next = undefined;
      this.#running = next ? this.#start() : undefined;
      if (next) this.#running!.then(next.resolve, next.reject);
    };
    done.then(settle, settle);
    return done;
  }
}
