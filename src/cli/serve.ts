import type { Raw } from "../config/definition.ts";
import { installProcessGuard } from "../ops/process-guard.ts";
import { HARD_EXIT_MARGIN_MS, SHUTDOWN_DEADLINE_MS } from "../ops/shutdown.ts";
import { bunStartupMemory, scheduleStartupMemoryRelease } from "../ops/startup-memory.ts";
import { createRelay } from "../server.ts";

/** The relay could not start for a reason outside the configuration's values (exit 1, one line). */
export class StartupError extends Error {}

/** Runs until SIGTERM/SIGINT, then drains and exits 0 (DESIGN §8: within 10 s). */
export async function serve(raw: Raw): Promise<void> {
  const relay = await createRelay(raw);
  installProcessGuard({ process, log: relay.ctx.log, metrics: relay.ctx.metrics });
  try {
    await relay.listen();
  } catch (err) {
    await relay.stop();
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      const { HOST, PORT } = relay.ctx.config;
      throw new StartupError(
        `cannot listen on ${HOST}:${PORT}: address already in use (is another relay running? set PORT)`,
      );
    }
    throw err;
  }
  scheduleStartupMemoryRelease(bunStartupMemory(relay.ctx.log));
  const onSignal = (signal: string) => {
    relay.ctx.log.info("signal_received", { signal });
    // The stop has its own deadline; this only catches a stop that hangs past it (DESIGN §8: < 10 s).
    const hardStop = setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS + HARD_EXIT_MARGIN_MS);
    hardStop.unref();
    relay.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
}
