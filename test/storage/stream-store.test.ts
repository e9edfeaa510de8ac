import { afterEach, beforeEach, expect, test } from "bun:test";
import { createStreamStore, type StreamStore } from "../../src/relay/stream-store.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { addUser } from "./users.ts";

const T0 = 1_000_000;

eachDialect("stream store", (dialect) => {
  let close: () => Promise<void>;
  let store: StreamStore;
  let user: number;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    store = createStreamStore(fresh.storage);
    user = await addUser(fresh.storage, "ou_s");
  });
  afterEach(() => close());

  test("a stream id opens once per user, even when two race", async () => {
    const [a, b] = await Promise.all([
      store.insert(user, "s1", "{}", T0),
      store.insert(user, "s1", "{}", T0),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await store.byStream(user, "s1")).toMatchObject({
      userId: user,
      streamId: "s1",
      target: "{}",
      status: "opening",
      sequence: 0,
      shownText: "",
      cardId: null,
      messageId: null,
      updatedAt: T0,
    });
    expect(await store.byStream(user, "s2")).toBeUndefined();
  });

  test("a stream's life: card created, opened, sequence, shown text, final", async () => {
    const row = (await store.insert(user, "s1", "{}", T0))!;
    await store.cardCreated(row.id, "card_1", T0 + 1);
    await store.opened(row.id, "card_1", "om_1", "hello", T0 + 2);
    await store.sequence(row.id, 7);
    await store.shown(row.id, "hello world", T0 + 3);
    expect(await store.byStream(user, "s1")).toMatchObject({
      cardId: "card_1",
      messageId: "om_1",
      status: "open",
      sequence: 7,
      shownText: "hello world",
      updatedAt: T0 + 3,
    });
    await store.setStatus(row.id, "final", T0 + 4);
    expect((await store.byStream(user, "s1"))?.status).toBe("final");
  });

  test("unfinished lists opening and open streams last touched by a time; prune forgets ended ones", async () => {
    const a = (await store.insert(user, "a", "{}", T0))!;
    const b = (await store.insert(user, "b", "{}", T0 + 10))!;
    const c = (await store.insert(user, "c", "{}", T0))!;
    await store.opened(b.id, "card_b", "om_b", "", T0 + 10);
    await store.setStatus(c.id, "closed", T0 + 5);
    expect((await store.unfinished(T0 + 100)).map((r) => r.streamId)).toEqual(["a", "b"]);
    expect((await store.unfinished(T0 + 9)).map((r) => r.streamId)).toEqual(["a"]);
    expect(await store.prune(T0 + 4)).toBe(0);
    expect(await store.prune(T0 + 5)).toBe(1);
    expect(await store.byStream(user, "c")).toBeUndefined();
    expect(a.id).not.toBe(b.id);
  });
});
