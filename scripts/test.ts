/**
 * `npm test`: the whole suite twice, once per storage adapter — SQLite (the default), then
 * PostgreSQL (RELAY_TEST_DATABASE=postgres: every relay a test starts gets a fresh database on the
 * server at TEST_POSTGRES_URL). Port-level tests run both adapters in each pass; the second pass is
 * skipped, and says so, when no PostgreSQL answers. Arguments go to `bun test` (a
 * `--reporter-outfile=<f>` gets `-postgres` before its extension for the second pass).
 * Exit status: non-zero if either pass failed.
 */
import { postgresReachable } from "../test/storage/databases.ts";

const args = process.argv.slice(2);
const run = (env: Record<string, string>, argv: string[]) =>
  Bun.spawn(["bun", "test", "--timeout", "20000", ...argv], {
    env: { ...process.env, ...env },
    stdio: ["inherit", "inherit", "inherit"],
  }).exited;

const sqlite = await run({ RELAY_TEST_DATABASE: "sqlite" }, args);
let postgres = 0;
if (process.env.TEST_SKIP_POSTGRES === "1") {
  console.log("== PostgreSQL pass skipped (TEST_SKIP_POSTGRES=1)");
} else if (await postgresReachable()) {
  console.log("== the same suite on PostgreSQL (RELAY_TEST_DATABASE=postgres)");
  const pgArgs = args.map((a) =>
    a.startsWith("--reporter-outfile=") ? a.replace(/(\.[^./]*)?$/, (ext) => `-postgres${ext}`) : a,
  );
  // The real-OpenClaw suites test the plugin against a host; the relay's storage is incidental there
  // and they take minutes: the first pass runs them, this one does not.
  postgres = await run({ RELAY_TEST_DATABASE: "postgres", OPENCLAW_E2E: "" }, pgArgs);
} else {
  console.log("== PostgreSQL pass skipped: no server answers at TEST_POSTGRES_URL");
}
process.exit(sqlite || postgres ? 1 : 0);
