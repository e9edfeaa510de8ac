/**
 * What start-up leaves behind, handed back once the relay listens. Evaluating the modules, running the
 * migrations and building the schemas leave garbage and the JIT code of functions that ran only then.
 * An idle relay allocates almost nothing, so JavaScriptCore has no reason to collect it (it was still
 * there 1.5 s after start in every measurement). One full collection and a shrink, which also throws
 * that JIT code away (hot functions are compiled again when traffic comes), take ~2.4 MB off the idle
 * RSS for ~7 ms, once (`bun bench/startup.ts`; the collection alone ~0.4 MB).
 */
import type { Logger } from "./logger.ts";

/**
 * How long after listening: late enough that the first requests (a health check, plugins that
 * reconnect after a restart) have left their own start-up garbage and JIT code too.
 */
export const RELEASE_AFTER_LISTEN_MS = 250;

export interface StartupMemoryDeps {
  /** A full, synchronous collection (`Bun.gc(true)`). */
  gc: () => void;
  /** JavaScriptCore's shrink: frees unused heap blocks and drops JIT code (`Bun.shrink()`). */
  shrink: () => void;
  /** Resident set size in bytes. */
  rss: () => number;
  now: () => number;
  log: Logger;
}

export const bunStartupMemory = (log: Logger): StartupMemoryDeps => ({
  gc: () => Bun.gc(true),
  // Deprecated in bun-types, with no replacement named; the collection alone frees ~0.4 MB, this ~2 MB more.
  shrink: () => Bun.shrink(),
  rss: () => process.memoryUsage.rss(),
  now: () => performance.now(),
  log,
});

const mb = (bytes: number) => Math.round(bytes / 10_485.76) / 100;

/** Collects start-up garbage once; logs (debug) the RSS before and after and how long it took. */
export function releaseStartupMemory(deps: StartupMemoryDeps): void {
  const before = deps.rss();
  const started = deps.now();
  deps.gc();
  deps.shrink();
  const ms = deps.now() - started;
  if (deps.log.enabled("debug"))
    deps.log.debug("startup_memory_released", {
      rssBeforeMb: mb(before),
      rssAfterMb: mb(deps.rss()),
      ms: Math.round(ms * 100) / 100,
    });
}

/** `releaseStartupMemory` once, RELEASE_AFTER_LISTEN_MS from now; never keeps the process alive. */
export function scheduleStartupMemoryRelease(
  deps: StartupMemoryDeps,
  delayMs = RELEASE_AFTER_LISTEN_MS,
): void {
  setTimeout(() => releaseStartupMemory(deps), delayMs).unref();
}
