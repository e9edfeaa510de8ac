import { describe, expect, test } from "bun:test";
import { KeyedTurns } from "../../src/ops/keyed-turns.ts";

describe("KeyedTurns", () => {
  test("one key's work runs in order, each after the one before settled; other keys do not wait", async () => {
    const turns = new KeyedTurns<string>();
    const log: string[] = [];
    const gate = Promise.withResolvers<void>();
    const first = turns.run("a", async () => {
      log.push("a1 start");
      await gate.promise;
      log.push("a1 end");
      return 1;
    });
    const second = turns.run("a", () => {
      log.push("a2");
      return 2;
    });
    const other = turns.run("b", () => {
      log.push("b1");
      return 3;
    });
    expect(await other).toBe(3);
    expect(log).toEqual(["a1 start", "b1"]);
    gate.resolve();
    expect([await first, await second]).toEqual([1, 2]);
    expect(log).toEqual(["a1 start", "b1", "a1 end", "a2"]);
  });

  test("a failed turn rejects its own caller only; the next turn still runs", async () => {
    const turns = new KeyedTurns<number>();
    const failing = turns.run(1, async () => {
      throw new Error("boom");
    });
    const next = turns.run(1, () => "ran");
    await expect(failing).rejects.toThrow("boom");
    expect(await next).toBe("ran");
  });

  test("idle waits for queued turns, and a key's entry is gone once its work settled", async () => {
    const turns = new KeyedTurns<number>();
    let done = 0;
    for (let i = 0; i < 3; i++)
      void turns.run(i % 2, async () => {
        await Bun.sleep(1);
        done++;
      });
    expect(turns.size).toBe(2);
    await turns.idle();
    expect(done).toBe(3);
    expect(turns.size).toBe(0);
  });
});
