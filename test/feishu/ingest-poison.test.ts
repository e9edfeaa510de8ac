/**
 * A webhook whose message content is nested 60,000 deep once failed every group commit it joined:
 * 500 for it on every re-push, and 500 for the other users' events of the same batch. Through the
 * real webhook over HTTP, with the fake Feishu pushing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { type IngestRelay, ingestRelay } from "./helpers.ts";

const USERS = 150;
const openId = (k: number) => `ou_${String(k).padStart(32, "0")}`;

const fake = await useFakeFeishu();
let relay: IngestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

describe("a message nested too deeply", () => {
  test("is stored with a placeholder and answered 200, and 150 other users' events pushed with it are all stored", async () => {
    relay = await ingestRelay(fake);
    const ids = await Promise.all(Array.from({ length: USERS }, (_, k) => relay!.addUser(openId(k))));
    const url = relay.listen();
    const n = 60_000;
    const poisoned = fake.messageEvent({
      senderOpenId: openId(0),
      content: `{"text":"boom","x":${"[".repeat(n)}${"]".repeat(n)}}`,
    });
    const pushes = await Promise.all([
      ...ids.map((_, k) => fake.pushEvent(url, { senderOpenId: openId(k), text: `hello ${k}` })),
      fake.pushEvent(url, poisoned),
    ]);
    expect(pushes.map((p) => p.status)).toEqual(new Array(USERS + 1).fill(200));
    expect(await relay.storedCount()).toBe(USERS + 1);
    const texts = (await relay.ctx.inbox.pending(ids[0]!)).map((m) => m.message.text);
    expect(texts.sort()).toEqual(["[unreadable text message: content nested too deeply]", "hello 0"]);
    // A re-push is a plain duplicate now, not a 500 forever.
    expect((await fake.pushEvent(url, poisoned)).status).toBe(200);
    expect(await relay.storedCount()).toBe(USERS + 1);
  });
});
