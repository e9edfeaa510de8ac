/**
 * Holds SQLite's write lock on a database from another thread, the way the checkpoint worker's
 * RESTART checkpoint does, and lets it go by itself after `ms` (the main thread may be blocked in
 * SQLite's busy handler meanwhile, so it cannot be asked to).
 */
const SOURCE = `
import { Database } from "bun:sqlite";
self.onmessage = (e) => {
  const db = new Database(e.data.path);
  db.exec("BEGIN IMMEDIATE");
  postMessage("locked");
  setTimeout(() => {
    db.exec("COMMIT");
    db.close();
    postMessage("released");
  }, e.data.ms);
};
`;

export interface HeldLock {
  /** Resolves once the other thread has committed and closed. */
  released: Promise<void>;
}

/** Resolves once the lock is held. */
export async function holdWriteLock(path: string, ms: number): Promise<HeldLock> {
  const url = URL.createObjectURL(new Blob([SOURCE], { type: "application/javascript" }));
  const worker = new Worker(url);
  const seen = (what: string) =>
    new Promise<void>((resolve) => {
      worker.addEventListener("message", (e: MessageEvent<string>) => {
        if (e.data === what) resolve();
      });
    });
  const locked = seen("locked");
  const released = seen("released").then(() => {
    worker.terminate();
    URL.revokeObjectURL(url);
  });
  worker.postMessage({ path, ms });
  await locked;
  return { released };
}
