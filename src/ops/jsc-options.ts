/**
 * JavaScriptCore options the relay serves with. JSC reads `BUN_JSC_*` from the environment once, when
 * the VM starts, so `serve` re-executes itself once with them (`process.execve`: the same PID, so
 * systemd, Docker and a shell's job control see one process) unless the environment names them
 * already: an operator overrides each one by setting it (e.g. `BUN_JSC_useFTLJIT=1`). The Dockerfile
 * and the systemd unit set them, which saves the second start.
 *
 * `useFTLJIT=0` — no fourth tier (FTL). At a steady 1,000 events/s a relay's JIT worker was still
 * compiling after 10 s (77 FTL compiles, 240 ms of a core, in bursts of up to 6 ms), and on two
 * cores those bursts take the core the event loop or the plugin needs: bench/ab.ts at --rate 1000
 * (10 alternating windows) gave webhook → plugin p99 3.07 → 2.30 ms, while throughput at c=64 did
 * not drop (events/s 1.05×, CPU per event 0.95×): the hot path is native calls (SQLite, sockets,
 * JSON) that DFG code makes as well as FTL code. Media streams, which run JS per chunk, lose ~20%
 * (uploads through the relay ~135 against ~170 MiB/s), still far above what Feishu moves for a bot.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "../config/sources.ts";

export const RELAY_JSC_OPTIONS: Readonly<Record<string, string>> = { BUN_JSC_useFTLJIT: "0" };

export interface ProcessFacts {
  /** `process.env`: the kernel's environment plus what Bun loaded from `.env` files. */
  env: Record<string, string | undefined>;
  /**
   * The environment block the process was started with (`/proc/self/environ`), or undefined where
   * the platform does not show it; asked only when there is a second start to hand it to. The second
   * start gets this one, not `env`, so values from `.env` files (secrets, often) are not copied into
   * its environ block, where `/proc/<pid>/environ` and core dumps would show them. The second start
   * reads the same `.env` files again itself.
   */
  startEnv?: () => Record<string, string> | undefined;
  execPath: string;
  /** `process.argv0`: argv[0] as the process was started (`process.argv[0]` is "bun" in a compiled binary). */
  argv0: string;
  /** `process.argv`: the runtime, the script (or the compiled binary's inner path), then the args. */
  argv: readonly string[];
  /** `bun` flags before the script (`--smol`, `--cpu-prof`); empty in a compiled binary. */
  execArgv: readonly string[];
  /** `Bun.main`: `/$bunfs/…` inside a compiled binary. */
  main: string;
}

export interface Relaunch {
  path: string;
  args: string[];
  env: Record<string, string>;
}

/** Whether these arguments start the server (the default command), not a one-shot command. */
function serves(args: readonly string[]): boolean {
  const parsed = parseArgs([...args]);
  const command = parsed.positionals[0] ?? "serve";
  return command === "serve" && !parsed.options.help && !parsed.options.version;
}

/**
 * The `execve` that starts this same command again with the missing options, or undefined: every
 * option already set (an operator's choice, or this is the second start), not `serve`, or a dev mode
 * (`--watch`, `--hot`) whose supervisor must stay the process that runs.
 */
export function relaunchFor(p: ProcessFacts, options = RELAY_JSC_OPTIONS): Relaunch | undefined {
  const missing = Object.entries(options).filter(([name]) => p.env[name] === undefined);
  if (missing.length === 0 || !serves(p.argv.slice(2))) return undefined;
  if (p.execArgv.some((flag) => flag === "--watch" || flag === "--hot")) return undefined;
  // argv[0] as started, so that `ps` shows the same command line. A compiled binary runs its embedded
  // entry whatever argv[1] says: only the user's arguments follow.
  const compiled = p.main.startsWith("/$bunfs/");
  const args = compiled ? [p.argv0, ...p.argv.slice(2)] : [p.argv0, ...p.execArgv, ...p.argv.slice(1)];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(p.startEnv?.() ?? p.env))
    if (value !== undefined) env[name] = value;
  for (const [name, value] of missing) env[name] = value;
  return { path: p.execPath, args, env };
}

/** `NAME=value` entries separated by NULs, as in `/proc/<pid>/environ`; the first of a name counts (as for getenv). */
export function parseEnviron(raw: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!Object.hasOwn(env, name)) env[name] = entry.slice(eq + 1);
  }
  return env;
}

/** This process's environment as started (Linux), or undefined where `/proc` does not show it. */
function startEnvironment(): Record<string, string> | undefined {
  try {
    return parseEnviron(readFileSync("/proc/self/environ", "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Re-executes this process with the relay's JSC options when `relaunchFor` asks for it; returns only
 * when it does not, or when the platform cannot (no `process.execve`, or it failed): the relay then
 * serves with JSC's defaults, slower in the tail but correct.
 */
export function relaunchWithJscOptions(): void {
  // Optional in the types as in Node (not on Windows).
  if (typeof process.execve !== "function") return;
  const plan = relaunchFor({
    env: process.env,
    startEnv: startEnvironment,
    execPath: process.execPath,
    argv0: process.argv0,
    argv: process.argv,
    execArgv: process.execArgv,
    main: Bun.main,
  });
  if (!plan) return;
  try {
    process.execve(plan.path, plan.args, plan.env);
  } catch {
    // Serve as we are: the options only shorten the latency tail.
  }
}
