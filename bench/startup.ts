/**
 * Compiled binary: time from spawn to the first `/health` 200, and idle RSS after start-up, for a first
 * start (the database is created and migrated) and for a restart on that database (the usual case).
 * Goals (M1-1): under 100 ms and under 50 MB (the original Express relay idles at ~65 MB).
 *
 *   bun run build && bun bench/startup.ts [--runs 10]
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const runs = Number(values.runs);
const binary = join(import.meta.dir, "../dist/openclaw-relay");
if (!existsSync(binary)) throw new Error("build first: bun run build");

async function once(port: number, dir: string) {
  const started = performance.now();
  const proc = Bun.spawn([binary, "serve"], {
    env: { HOST: "127.0.0.1", PORT: String(port), DATABASE_PATH: join(dir, "relay.db"), LOG_LEVEL: "error" },
    stdout: "ignore",
    stderr: "inherit",
  });
  let ms = Number.NaN;
  for (let i = 0; i < 5000; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) {
        ms = performance.now() - started;
        break;
      }
    } catch {}
    await Bun.sleep(1);
  }
  await Bun.sleep(500); // let start-up garbage settle before reading idle RSS
  const status = await Bun.file(`/proc/${proc.pid}/status`).text();
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  proc.kill("SIGTERM");
  const code = await proc.exited;
  return { ms, rssMb, code };
}

const results = [];
const restarts = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "relay-startup-"));
  const port = 19_000 + (process.pid % 500) + i;
  results.push(await once(port, dir));
  restarts.push(await once(port, dir));
  rmSync(dir, { recursive: true, force: true });
}
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const summary = {
  command: `bun bench/startup.ts --runs ${runs}`,
  runs,
  startToHealthMs: {
    median: Number(median(results.map((r) => r.ms)).toFixed(1)),
    min: Number(sorted(results.map((r) => r.ms))[0]!.toFixed(1)),
  },
  restartToHealthMs: {
    median: Number(median(restarts.map((r) => r.ms)).toFixed(1)),
    min: Number(sorted(restarts.map((r) => r.ms))[0]!.toFixed(1)),
  },
  idleRssMb: Number(median(results.map((r) => r.rssMb)).toFixed(1)),
  cleanExits: [...results, ...restarts].filter((r) => r.code === 0).length,
};
console.log(JSON.stringify(summary, null, 2));
console.log(
  `binary start → /health 200: first start (new database) median ${summary.startToHealthMs.median} ms (min ${summary.startToHealthMs.min}), ` +
    `restart median ${summary.restartToHealthMs.median} ms (min ${summary.restartToHealthMs.min}); idle RSS ${summary.idleRssMb} MB; ` +
    `${summary.cleanExits}/${2 * runs} exited 0 on SIGTERM`,
);
