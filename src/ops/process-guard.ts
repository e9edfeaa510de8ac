/**
 * The last line against a promise nobody observed: Bun, like Node, exits on an unhandled rejection,
 * which would drop every plugin connection for one forgotten `.catch`. Every fire-and-forget promise
 * has its own handler; this only logs and counts what slipped through, so it shows up on /metrics.
 */
import type { Logger } from "./logger.ts";
import type { Registry } from "./metrics.ts";

export interface ProcessLike {
  on(event: "unhandledRejection", listener: (reason: unknown) => void): unknown;
  off(event: "unhandledRejection", listener: (reason: unknown) => void): unknown;
}

export interface ProcessGuardDeps {
  process: ProcessLike;
  log: Logger;
  metrics: Registry;
}

const guarded = new WeakSet<ProcessLike>();

/** Installs the guard once per process; returns a function that removes it (tests). */
export function installProcessGuard({ process, log, metrics }: ProcessGuardDeps): () => void {
  if (guarded.has(process)) return () => {};
  guarded.add(process);
  const count = metrics.counter(
    "process_unhandled_rejections_total",
    "Promise rejections nobody handled (each one is a bug; the process keeps running).",
  );
  const onRejection = (reason: unknown) => {
    count.inc();
    log.error("unhandled_rejection", { err: reason instanceof Error ? reason : new Error(String(reason)) });
  };
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("unhandledRejection", onRejection);
    guarded.delete(process);
  };
}
