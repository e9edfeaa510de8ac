/**
 * A real `bun src/index.ts serve` process for tests that need one (the start-up memory release, the
 * JSC relaunch): 127.0.0.1, port 0, a fresh database; its stdout is read until a log line names
 * `until`, then `inspect` runs while it still serves, and it is stopped with SIGTERM.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers.ts";

export interface Served {
  pid: number;
  /** Its stdout so far: JSON log lines. */
  out: string;
}

export async function withServeProcess<T>(
  opts: {
    until: string;
    env?: Record<string, string>;
    /** Written as `.env` in the process's working directory (a fresh one), which Bun loads at start. */
    dotenv?: string;
    giveUpMs?: number;
  },
  inspect: (served: Served) => T | Promise<T>,
): Promise<T> {
  const { dir, cleanup } = tempDir("serve-process-");
  if (opts.dotenv !== undefined) writeFileSync(join(dir, ".env"), opts.dotenv);
  const proc = Bun.spawn(["bun", join(import.meta.dir, "../src/index.ts"), "serve"], {
    ...(opts.dotenv !== undefined ? { cwd: dir } : {}),
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "info",
      DATABASE_PATH: join(dir, "relay.db"),
      ...opts.env,
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let out = "";
    // The give-up, not a wait: the loop ends as soon as the line is there.
    const giveUp = new Promise<{ done: true; value: undefined }>((resolve) =>
      setTimeout(() => resolve({ done: true, value: undefined }), opts.giveUpMs ?? 10_000).unref(),
    );
    while (!out.includes(`"${opts.until}"`)) {
      const { value, done } = await Promise.race([reader.read(), giveUp]);
      if (done) break;
      out += decoder.decode(value);
    }
    return await inspect({ pid: proc.pid, out });
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    cleanup();
  }
}
