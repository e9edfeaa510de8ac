/**
 * The graceful stop as one ordered list (DESIGN §8): phases run in this fixed order, the steps of one
 * phase together, and the whole stop under one deadline. A module registers its step under the phase
 * it belongs to, so the order no longer depends on which module happened to register first.
 */
import type { Logger } from "./logger.ts";

/** The whole stop, SIGTERM to exit; the CLI's hard exit comes HARD_EXIT_MARGIN_MS after it. */
export const SHUTDOWN_DEADLINE_MS = 9000;
export const HARD_EXIT_MARGIN_MS = 500;
/** HTTP requests in flight may take this long to finish before the server closes them. */
export const HTTP_DRAIN_MS = 5000;

/**
 * - `intake`: stop taking new work — plugin sockets closed with 1012, upgrades refused, the Feishu
 *   long connection stopped, sends waiting behind a rate limit released (they stay queued).
 * - `http`: the HTTP server drains its requests in flight (bounded by HTTP_DRAIN_MS).
 * - `work`: in-flight work finishes — outbox sends, streaming cards, typing reactions, timers.
 * - `flush`: last writes — session ends, acks, the inbox's queued commits.
 * - `storage`: files and the database close.
 */
export const SHUTDOWN_PHASES = ["intake", "http", "work", "flush", "storage"] as const;
export type ShutdownPhase = (typeof SHUTDOWN_PHASES)[number];

export type ShutdownStep = () => void | Promise<void>;

export class Shutdown {
  readonly #steps = new Map<ShutdownPhase, Array<{ name: string; run: ShutdownStep }>>();
  #running: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly deadlineMs = SHUTDOWN_DEADLINE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  add(phase: ShutdownPhase, name: string, run: ShutdownStep): void {
    const list = this.#steps.get(phase) ?? [];
    list.push({ name, run });
    this.#steps.set(phase, list);
  }

  /** Runs every phase once, in order; later calls get the same promise. Never rejects. */
  run(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  async #run(): Promise<void> {
    const endAt = this.now() + this.deadlineMs;
    for (const phase of SHUTDOWN_PHASES) {
      const steps = this.#steps.get(phase) ?? [];
      const left = endAt - this.now();
      const late = new Set(steps.map((s) => s.name));
      const all = Promise.all(
        steps.map(async (s) => {
          try {
            await s.run();
          } catch (err) {
            this.log.error("shutdown_step_failed", { phase, step: s.name, err: err as Error });
          } finally {
            late.delete(s.name);
          }
        }),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, left));
      });
      const expired = await Promise.race([all.then(() => false), timedOut]);
      clearTimeout(timer);
      if (expired) {
        // Past the deadline the remaining phases still run, each given no time to wait: closing the
        // database must happen even when a send hangs.
        this.log.error("shutdown_deadline_passed", {
          phase,
          waitingFor: [...late],
          deadlineMs: this.deadlineMs,
        });
      }
    }
  }
}
