/** Holds SQLite's write lock on a database file from another process, as a second writer would. */
export interface WriteLock {
  release(): Promise<void>;
}

const HOLDER = `
const { Database } = require("bun:sqlite");
const db = new Database(process.argv[1]);
// The relay may be inside a short write of its own (an ack flush, a checkpoint) as the holder starts:
// wait for it, as a second writer would, rather than fail with SQLITE_BUSY.
db.exec("PRAGMA busy_timeout = 5000");
db.exec("BEGIN IMMEDIATE");
console.log("locked");
process.stdin.on("data", () => {});
process.stdin.on("end", () => { db.exec("ROLLBACK"); db.close(); process.exit(0); });
`;

export async function holdWriteLock(path: string): Promise<WriteLock> {
  const child = Bun.spawn([process.execPath, "-e", HOLDER, path], { stdin: "pipe", stdout: "pipe" });
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the lock holder exited before locking");
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    async release() {
      child.stdin.end();
      await child.exited;
    },
  };
}
