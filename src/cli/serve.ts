import type { Raw } from "../config/definition.ts";
import { installProcessGuard } from "../ops/process-guard.ts";
import { createRelay } from "../server.ts";

/** Runs until SIGTERM/SIGINT, then drains and exits 0 (DESIGN §8: within 10 s). */
export async function serve(raw: Raw): Promise<void> {
  const relay = createRelay(raw);
  installProcessGuard({ process, log: relay.ctx.log, metrics: relay.ctx.metrics });
  await relay.listen();
  const onSignal = (signal: string) => {
    relay.ctx.log.info("signal_received", { signal });
    const hardStop = setTimeout(() => process.exit(1), 9500);
    hardStop.unref();
    relay.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
}
