import { expect, test } from "bun:test";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Shutdown } from "../../src/ops/shutdown.ts";

test("phases run in their fixed order whatever the order of registration; steps of a phase together", async () => {
  const { log } = memoryLogger();
  const s = new Shutdown(log, 1000);
  const seen: string[] = [];
  s.add("storage", "db", () => void seen.push("storage:db"));
  s.add("work", "outbox", async () => {
    await Bun.sleep(5);
    seen.push("work:outbox");
  });
  s.add("work", "streams", () => void seen.push("work:streams"));
  s.add("intake", "sockets", () => void seen.push("intake:sockets"));
  s.add("flush", "acks", () => void seen.push("flush:acks"));
  await Promise.all([s.run(), s.run()]);
  expect(seen).toEqual(["intake:sockets", "work:streams", "work:outbox", "flush:acks", "storage:db"]);
});

test("a failing step is logged and the stop goes on", async () => {
  const { log, lines } = memoryLogger();
  const s = new Shutdown(log, 1000);
  let closed = false;
  s.add("work", "boom", () => {
    throw new Error("nope");
  });
  s.add("storage", "db", () => {
    closed = true;
  });
  await s.run();
  expect(closed).toBe(true);
  expect(lines.some((l) => l.includes("shutdown_step_failed") && l.includes("boom"))).toBe(true);
});

test("past the one deadline the stop names what it waited for and still closes storage", async () => {
  const { log, lines } = memoryLogger();
  const s = new Shutdown(log, 20);
  let closed = false;
  s.add("work", "hung-send", () => new Promise<void>(() => {}));
  s.add("storage", "db", () => {
    closed = true;
  });
  await s.run();
  expect(closed).toBe(true);
  const line = lines.find((l) => l.includes("shutdown_deadline_passed"));
  expect(line).toContain("hung-send");
  expect(line).toContain('"phase":"work"');
});
