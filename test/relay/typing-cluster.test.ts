/** Cluster mode: the Typing reaction one node added is ended by a reply or ack on another node. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { StoredMessage } from "../../src/relay/inbox.ts";
import { type ReactionPort, TypingIndicator } from "../../src/relay/typing.ts";
import { createTypingStore } from "../../src/relay/typing-store.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { postgresNodes, postgresReachable } from "../storage/databases.ts";
import { addUser } from "../storage/users.ts";

const T0 = 1_800_000_000_000;

describe.if(await postgresReachable())("typing indicator across nodes [postgres]", () => {
  let storages: Storage[];
  let closeNodes: () => Promise<void>;
  let user: number;
  const calls: Array<{ node: number; op: string; messageId: string; reactionId?: string }> = [];
  beforeEach(async () => {
    ({ storages, close: closeNodes } = await postgresNodes(2));
    user = await addUser(storages[0]!, "ou_a");
    calls.length = 0;
    clock = T0;
  });
  afterEach(() => closeNodes());

  let clock = T0;
  const node = (i: number, port?: ReactionPort) => {
    const reactions: ReactionPort = port ?? {
      async add(messageId) {
        calls.push({ node: i, op: "add", messageId });
        return `r_${messageId}`;
      },
      async remove(messageId, reactionId) {
        calls.push({ node: i, op: "remove", messageId, reactionId });
      },
    };
    const errors: unknown[] = [];
    return new TypingIndicator({
      store: createTypingStore(storages[i]!, (e) => errors.push(e)),
      reactions,
      enabled: true,
      timeoutMs: 600_000,
      now: () => clock,
      log: memoryLogger().log,
      metrics: new Registry(),
    });
  };
  const message = (seq: number, messageId: string) =>
    ({
      userId: user,
      seq,
      receivedAt: T0,
      payload: "{}",
      message: { messageId, createTime: T0 },
    }) as StoredMessage;

  test("node A adds on delivery, node B's reply removes it; a second delivery adds nothing", async () => {
    const a = node(0);
    const b = node(1);
    a.delivered(message(1, "om_1"));
    await a.settled();
    // The same message redelivered through another node (a reconnect) is claimed already.
    b.delivered(message(1, "om_1"));
    await b.settled();
    b.replied("om_1");
    await b.settled();
    expect(calls).toEqual([
      { node: 0, op: "add", messageId: "om_1" },
      { node: 1, op: "remove", messageId: "om_1", reactionId: "r_om_1" },
    ]);
  });

  test("an ack on another node removes every reaction up to its seq", async () => {
    const a = node(0);
    const b = node(1);
    a.delivered(message(1, "om_1"));
    a.delivered(message(2, "om_2"));
    await a.settled();
    b.acked(user, 1);
    await b.settled();
    expect(calls.filter((c) => c.op === "remove").map((c) => c.messageId)).toEqual(["om_1"]);
  });

  test("a reply elsewhere while the add is still in flight: the adding node removes its reaction", async () => {
    let answer: (id: string) => void = () => {};
    const a = node(0, {
      add: (messageId) => {
        calls.push({ node: 0, op: "add", messageId });
        return new Promise<string>((resolve) => (answer = resolve));
      },
      async remove(messageId, reactionId) {
        calls.push({ node: 0, op: "remove", messageId, reactionId });
      },
    });
    const b = node(1);
    a.delivered(message(1, "om_1"));
    for (let i = 0; i < 400 && calls.length === 0; i++) await Bun.sleep(5);
    b.replied("om_1"); // B finds the row without a reaction id yet: it drops it
    await b.settled();
    answer("r_late");
    await a.settled();
    expect(calls).toEqual([
      { node: 0, op: "add", messageId: "om_1" },
      { node: 0, op: "remove", messageId: "om_1", reactionId: "r_late" },
    ]);
  });

  test("a node that died holding a reaction: another node's sweep removes it after the timeout", async () => {
    const a = node(0);
    const b = node(1);
    a.delivered(message(1, "om_dead"));
    await a.settled();
    // Node A is gone (no stop, no reply). B's start-up leaves A's rows alone: they may be live.
    expect(await b.cleanUpLeftovers()).toBe(0);
    clock = T0 + 599_000;
    await b.sweep();
    expect(calls.filter((c) => c.op === "remove")).toEqual([]);
    clock = T0 + 601_000;
    await b.sweep();
    await b.settled();
    expect(calls.filter((c) => c.op === "remove")).toEqual([
      { node: 1, op: "remove", messageId: "om_dead", reactionId: "r_om_dead" },
    ]);
  });
});
