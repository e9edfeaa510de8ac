/**
 * Compiled binary: time from spawn to the first `/health` 200, and idle RSS after start-up, for a first
 * start (the database is created and migrated) and for a restart on that database (the usual case).
 * Goals (M1-1): under 100 ms and under 50 MB (the original Express relay idles at ~65 MB).
 *
 *   bun run build && bun bench/startup.ts [--runs 10]
 *
 * The RSS counts the binary's code pages the process has mapped, and how many the kernel maps around
 * each page touched depends on how the binary is in the page cache: read from disk (after a reboot, or
 * once evicted) or just written (a build, a download, a Docker layer), whose large page-cache folios
 * are mapped whole (~4–5 MB more here, same code). So each round measures both:
 *  - "cold": the binary's cached pages dropped first (`dd iflag=nocache`), the state after a reboot;
 *    its first start and its restart give the start times;
 *  - "just written": a fresh copy of the binary, as after installing it.
 *
 * Two references tell the relay's part of a cold start from the disk's: the same binary printing its
 * version right after its pages were dropped (the runtime's own page-in, nothing of the relay run),
 * and the first start of the just-written copy (new database, binary already in the page cache).
 *
 * The restart is timed twice: started bare, as above (`serve` then executes itself once more with its
 * JSC options, src/ops/jsc-options.ts: a second image start, ~15–35 ms), and as the shipped systemd
 * unit and Docker image start it, with those options already in the environment (no second start).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RELAY_JSC_OPTIONS } from "../src/ops/jsc-options.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const runs = Number(values.runs);
const binary = join(import.meta.dir, "../dist/openclaw-relay");
if (!existsSync(binary)) throw new Error("build first: bun run build");

/** Drops the file's pages from the page cache (written back first), so the next start reads it from disk. */
function evictFromPageCache(file: string) {
  for (const cmd of [
    ["sync", file],
    ["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"],
  ]) {
    const r = Bun.spawnSync(cmd);
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
  }
}

async function once(port: number, dir: string, bin = binary, extraEnv: Record<string, string> = {}) {
  const started = performance.now();
  const proc = Bun.spawn([bin, "serve"], {
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_PATH: join(dir, "relay.db"),
      LOG_LEVEL: "error",
      ...extraEnv,
    },
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
  // The relay hands start-up memory back 250 ms after it listens (src/ops/startup-memory.ts).
  await Bun.sleep(500);
  const status = await Bun.file(`/proc/${proc.pid}/status`).text();
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  proc.kill("SIGTERM");
  const code = await proc.exited;
  return { ms, rssMb, code };
}

/** Spawn → exit of `openclaw-relay --version`: the floor of any start from this page-cache state. */
function timeVersion(): number {
  const started = performance.now();
  const r = Bun.spawnSync([binary, "--version"], { stdout: "ignore", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error("openclaw-relay --version failed");
  return performance.now() - started;
}

const results = [];
const restarts = [];
const deployedRestarts = [];
const justWritten = [];
const coldVersion: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "relay-startup-"));
  const port = 19_000 + (process.pid % 500) + i;
  evictFromPageCache(binary);
  coldVersion.push(timeVersion());
  evictFromPageCache(binary);
  results.push(await once(port, dir));
  restarts.push(await once(port, dir));
  deployedRestarts.push(await once(port, dir, binary, { ...RELAY_JSC_OPTIONS }));
  const copy = join(dir, "openclaw-relay");
  copyFileSync(binary, copy);
  justWritten.push(await once(port, mkdtempSync(join(dir, "fresh-")), copy));
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
  firstStartCachedToHealthMs: {
    median: Number(median(justWritten.map((r) => r.ms)).toFixed(1)),
    min: Number(sorted(justWritten.map((r) => r.ms))[0]!.toFixed(1)),
  },
  coldVersionMs: Number(median(coldVersion).toFixed(1)),
  restartToHealthMs: {
    median: Number(median(restarts.map((r) => r.ms)).toFixed(1)),
    min: Number(sorted(restarts.map((r) => r.ms))[0]!.toFixed(1)),
  },
  restartAsDeployedToHealthMs: {
    median: Number(median(deployedRestarts.map((r) => r.ms)).toFixed(1)),
    min: Number(sorted(deployedRestarts.map((r) => r.ms))[0]!.toFixed(1)),
  },
  idleRssMb: Number(median(results.map((r) => r.rssMb)).toFixed(1)),
  idleRssRestartMb: Number(median(restarts.map((r) => r.rssMb)).toFixed(1)),
  idleRssJustWrittenMb: Number(median(justWritten.map((r) => r.rssMb)).toFixed(1)),
  cleanExits: [...results, ...restarts, ...deployedRestarts, ...justWritten].filter((r) => r.code === 0)
    .length,
};
console.log(JSON.stringify(summary, null, 2));
console.log(
  `binary start → /health 200: first start (new database) after its pages were dropped median ${summary.startToHealthMs.median} ms (min ${summary.startToHealthMs.min}; ` +
    `\`--version\` alone from there ${summary.coldVersionMs} ms), with the binary in the page cache ${summary.firstStartCachedToHealthMs.median} ms; ` +
    `restart median ${summary.restartToHealthMs.median} ms (min ${summary.restartToHealthMs.min}), ` +
    `as the systemd unit and Docker image start it ${summary.restartAsDeployedToHealthMs.median} ms (min ${summary.restartAsDeployedToHealthMs.min}); ` +
    `idle RSS ${summary.idleRssMb} MB (restart ${summary.idleRssRestartMb} MB, binary just written ${summary.idleRssJustWrittenMb} MB); ` +
    `${summary.cleanExits}/${4 * runs} exited 0 on SIGTERM`,
);
