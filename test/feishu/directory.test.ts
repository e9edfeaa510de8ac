import { describe, expect, test } from "bun:test";
import { FeishuDirectory } from "../../src/feishu/directory.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack } from "./client-stack.ts";
import { VirtualTime } from "./virtual-time.ts";

const fake = await useFakeFeishu();

const userCalls = () => fake.calls.filter((c) => c.path.startsWith("/open-apis/contact/v3/users/"));
const botCalls = () => fake.calls.filter((c) => c.path === "/open-apis/bot/v3/info");

describe("directory", () => {
  test("user info: name and ids from contact/v3, cached for its TTL", async () => {
    const vt = new VirtualTime(Date.now());
    const { client } = clientStack(fake, { now: vt.now });
    const directory = new FeishuDirectory(client, { now: vt.now, userTtlMs: 60_000 });
    const added = fake.addUser({ openId: "ou_dir_1", name: "Zhang San" });
    const info = await directory.user("ou_dir_1");
    expect(info).toMatchObject({
      openId: "ou_dir_1",
      name: "Zhang San",
      unionId: added.unionId,
      userId: added.userId,
    });
    expect(info.avatarUrl).toContain("240x240");
    await Promise.all([directory.user("ou_dir_1"), directory.user("ou_dir_1")]);
    expect(userCalls()).toHaveLength(1);
    expect(userCalls()[0]!.query).toBe("?user_id_type=open_id");
    vt.advance(60_000);
    await directory.user("ou_dir_1");
    expect(userCalls()).toHaveLength(2);
  });

  test("concurrent lookups of one user share a call; unknown users reject with Feishu's code", async () => {
    const { directory } = clientStack(fake);
    fake.addUser({ openId: "ou_dir_2", name: "Li Si" });
    await Promise.all(Array.from({ length: 20 }, () => directory.user("ou_dir_2")));
    expect(userCalls()).toHaveLength(1);
    expect(await directory.user("ou_nobody").catch((e) => e)).toMatchObject({
      code: 41050,
      retryable: false,
    });
  });

  test("bot info: open_id and name, fetched once", async () => {
    const { directory } = clientStack(fake);
    expect(directory.cachedBot()).toBeUndefined();
    const [a, b] = await Promise.all([directory.bot(), directory.bot()]);
    expect(a).toEqual({ openId: fake.botOpenId, name: fake.botName });
    expect(b).toEqual(a);
    expect(await directory.botOpenId()).toBe(fake.botOpenId);
    expect(directory.cachedBot()).toEqual(a);
    expect(botCalls()).toHaveLength(1);
  });

  test("a failed bot refresh keeps serving the identity it had", async () => {
    const vt = new VirtualTime(Date.now());
    const { client } = clientStack(fake, { now: vt.now });
    const directory = new FeishuDirectory(client, { now: vt.now, botTtlMs: 1000 });
    const first = await directory.bot();
    vt.advance(1000);
    fake.failNext(1, { kind: "server_error" }, { scope: "all" });
    expect(await directory.bot()).toEqual(first);
    expect(botCalls()).toHaveLength(2);
  });
});
