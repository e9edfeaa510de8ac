/**
 * Records scripts/startup.order, the profile `npm run build` lays the binary's bytecode out by (see
 * STARTUP_ORDER in scripts/build.ts): builds, starts the binary the way bench/startup.ts does (a new
 * SQLite database, one GET /health), stops it with SIGTERM (Bun writes the profile on exit), then
 * builds again with the new profile.
 *
 *   bun scripts/record-startup-order.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "bun";
import { STARTUP_ORDER } from "./build.ts";

const root = join(import.meta.dir, "..");
const binary = join(root, "dist/openclaw-relay");

/** Starts `serve` on a fresh database, waits for /health 200 and stops it; the profile goes to `out`. */
async function recordStart(out: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "relay-order-"));
  const port = 19_500 + (process.pid % 400);
  const proc = Bun.spawn([binary, "serve"], {
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_PATH: join(dir, "relay.db"),
      LOG_LEVEL: "error",
      BUN_BYTECODE_ORDER_OUT: out,
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    let healthy = false;
    for (let i = 0; i < 5000 && !healthy; i++) {
      healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!healthy) await Bun.sleep(2);
    }
    if (!healthy) throw new Error("the relay did not answer /health");
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  process.chdir(root);
  await $`bun scripts/build.ts`;
  await recordStart(STARTUP_ORDER);
  await $`bun scripts/build.ts`;
  console.log(`recorded ${STARTUP_ORDER} (${Bun.file(STARTUP_ORDER).size} bytes)`);
}
