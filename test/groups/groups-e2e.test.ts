/**
 * Group bindings end to end (M2-4): the fake Feishu pushes over HTTP, a real plugin socket receives,
 * the relay answers through its own Feishu client, all on a real SQLite file.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";
import { connect, type TestClient } from "../relay/ws-client.ts";
import { sqlGet } from "../storage/sql.ts";

const OWNER = "ou_0wner0000000000000000000000000001";
const MEMBER = "ou_member000000000000000000000000002";
const STRANGER = "ou_stranger00000000000000000000000003";

const { fake, r } = await relayWithFeishu({ PUBLIC_URL: "https://relay.example" });
const webhook = `${r.http}/api/feishu/webhook`;
const owner = await r.user(OWNER, "Owner");
const member = await r.user(MEMBER, "Member");
const bindings = r.ctx.bindings;

let clients: TestClient[] = [];
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
  fake.reset();
});

async function plugin(token: string): Promise<TestClient> {
  const c = connect(r.url, { token });
  clients.push(c);
  await c.next((f) => f.type === "hello");
  return c;
}

let chats = 0;
const newChat = () => `oc_group_e2e_${++chats}_${Math.random().toString(36).slice(2, 8)}`;

/** "@Bot <text>" from `sender` in `chatId`. */
function atBot(chatId: string, sender: string, text: string) {
  return fake.messageEvent({
    chatId,
    chatType: "group",
    senderOpenId: sender,
    text: `@_user_1 ${text}`,
    mentions: [fake.botMention()],
  });
}

const messageIdOf = (env: { event: Record<string, unknown> }) =>
  (env.event.message as { message_id: string }).message_id;

async function push(env: Parameters<typeof fake.pushEvent>[1]) {
  const res = await fake.pushEvent(webhook, env);
  expect(res.status).toBe(200);
  return res;
}

/**
 * The stored message once it is deliverable: a group message is held briefly while the relay looks
 * up the group's name (M2-4 context), so `pending()` shows it only after that settles.
 */
async function deliverable(userId: number, messageId: string) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = (await r.ctx.inbox.pending(userId)).find((s) => s.message.messageId === messageId);
    if (found) return found.message;
    if (Date.now() > deadline) throw new Error(`${messageId} was not deliverable to user ${userId}`);
    await Bun.sleep(5);
  }
}

const inboxCount = async () =>
  (await sqlGet<{ n: number }>(r.ctx.storage, "SELECT CAST(count(*) AS INTEGER) AS n FROM inbox"))!.n;

describe("a bound group", () => {
  test("an unregistered member's @-mention reaches the owner's plugin, and its reply lands in the group", async () => {
    const chatId = newChat();
    await bindings.bind({ chatId, ownerUserId: owner.user.id, boundBy: "admin" });
    const c = await plugin(owner.token);
    const env = atBot(chatId, STRANGER, "what did we decide?");
    await push(env);
    const frame = await c.next((f) => f.type === "message");
    expect(frame).toMatchObject({
      messageId: messageIdOf(env),
      chatId,
      chatType: "group",
      boundChat: true,
      mentionedBot: true,
      text: "what did we decide?",
      sender: { openId: STRANGER },
    });
    expect((frame.sender as Record<string, unknown>).name).toBeUndefined();
    c.send({ type: "send", id: "s1", replyTo: frame.messageId, text: "we decided to ship" });
    const sent = await c.next((f) => f.id === "s1");
    expect(sent.type).toBe("sent");
    expect(fake.sent.find((m) => m.messageId === sent.messageId)).toMatchObject({
      kind: "reply",
      replyTo: messageIdOf(env),
      chatId,
      text: "we decided to ship",
    });
    // The owner may also address the group itself; no sign-in hint went to the stranger.
    c.send({ type: "send", id: "s2", to: `chat:${chatId}`, text: "follow-up" });
    expect(await c.next((f) => f.id === "s2")).toMatchObject({ type: "sent" });
    expect(fake.sent.some((m) => m.text?.includes("/login"))).toBe(false);
  });

  test("a registered member's mention goes to the owner too, with the member's name", async () => {
    const chatId = newChat();
    await bindings.bind({ chatId, ownerUserId: owner.user.id, boundBy: "admin" });
    const env = atBot(chatId, MEMBER, "hello team");
    await push(env);
    const stored = await deliverable(owner.user.id, messageIdOf(env));
    expect(stored).toMatchObject({ chatId, boundChat: true, sender: { openId: MEMBER, name: "Member" } });
    expect((await r.ctx.inbox.pending(member.user.id)).some((s) => s.message.chatId === chatId)).toBe(false);
  });

  test("requireMention:false: a message without a mention reaches the owner; with true it is dropped", async () => {
    const chatId = newChat();
    await bindings.bind({ chatId, ownerUserId: owner.user.id, requireMention: false, boundBy: "admin" });
    const plain = fake.messageEvent({
      chatId,
      chatType: "group",
      senderOpenId: STRANGER,
      text: "no mention",
    });
    await push(plain);
    const last = await deliverable(owner.user.id, messageIdOf(plain));
    expect(last).toMatchObject({ messageId: messageIdOf(plain), mentionedBot: false, boundChat: true });
    await bindings.bind({ chatId, ownerUserId: owner.user.id, requireMention: true, boundBy: "admin" });
    const before = await inboxCount();
    await push(fake.messageEvent({ chatId, chatType: "group", senderOpenId: MEMBER, text: "again" }));
    expect(await inboxCount()).toBe(before);
  });
});

describe("an unbound group", () => {
  test("keeps each sender's own agent, and the sign-in hint for strangers", async () => {
    const chatId = newChat();
    const mine = atBot(chatId, MEMBER, "mine");
    await push(mine);
    const stored = await deliverable(member.user.id, messageIdOf(mine));
    expect(stored).toMatchObject({ chatId, text: "mine" });
    expect(stored.boundChat).toBeUndefined();
    const env = atBot(chatId, STRANGER, "hi");
    await push(env);
    const hint = await fake.waitForSent((m) => m.replyTo === messageIdOf(env));
    expect(hint.text).toContain("https://relay.example/login");
  });
});

describe("/bind and /unbind", () => {
  test("two users race to /bind: exactly one owner, each gets the right reply, nothing is stored", async () => {
    const chatId = newChat();
    const before = await inboxCount();
    const a = atBot(chatId, OWNER, "/bind");
    const b = atBot(chatId, MEMBER, " /BIND ");
    await Promise.all([push(a), push(b)]);
    const binding = (await bindings.get(chatId))!;
    expect([owner.user.id, member.user.id]).toContain(binding.ownerUserId);
    const [winner, loser, winnerName] =
      binding.ownerUserId === owner.user.id ? [a, b, "Owner"] : [b, a, "Member"];
    const won = await fake.waitForSent((m) => m.replyTo === messageIdOf(winner));
    const lost = await fake.waitForSent((m) => m.replyTo === messageIdOf(loser));
    expect(won.text).toStartWith(`已绑定：本群的 @ 消息将由 ${winnerName} 的智能体回答。`);
    expect(lost.text).toContain(`already bound to ${winnerName}'s agent`);
    expect(binding.boundBy).toBe(`open_id:${binding.ownerUserId === owner.user.id ? OWNER : MEMBER}`);
    expect(await inboxCount()).toBe(before);
  });

  test("/unbind by someone else is refused; by the owner it works; a re-push does nothing twice", async () => {
    const chatId = newChat();
    await push(atBot(chatId, OWNER, "/bind"));
    expect((await bindings.get(chatId))?.ownerUserId).toBe(owner.user.id);
    const byMember = atBot(chatId, MEMBER, "/unbind");
    await push(byMember);
    expect((await fake.waitForSent((m) => m.replyTo === messageIdOf(byMember))).text).toContain(
      "Sorry, only Owner",
    );
    expect(await bindings.get(chatId)).toBeDefined();
    const byOwner = atBot(chatId, OWNER, "/unbind");
    const pushed = await push(byOwner);
    expect((await fake.waitForSent((m) => m.replyTo === messageIdOf(byOwner))).text).toContain("Unbound");
    expect(await bindings.get(chatId)).toBeUndefined();
    expect((await fake.repush(pushed)).status).toBe(200);
    expect(r.lines.filter((l) => l.includes(messageIdOf(byOwner)) && l.includes('"duplicate"'))).toHaveLength(
      1,
    );
    await Bun.sleep(20);
    expect(fake.sent.filter((m) => m.replyTo === messageIdOf(byOwner))).toHaveLength(1);
  });

  test("an unregistered user's /bind earns the sign-in hint and binds nothing", async () => {
    const chatId = newChat();
    // A stranger of their own: the sign-in hint goes at most once per 10 minutes per sender.
    const env = atBot(chatId, "ou_newcomer0000000000000000000000004", "/bind");
    await push(env);
    expect((await fake.waitForSent((m) => m.replyTo === messageIdOf(env))).text).toContain("/login");
    expect(await bindings.get(chatId)).toBeUndefined();
  });
});

describe("the bot joins and leaves groups", () => {
  test("added by a user: one notice, even after a re-push and a second added event", async () => {
    const chatId = newChat();
    const added = await push(fake.botAddedEvent({ chatId, operatorOpenId: OWNER }));
    const notice = await fake.waitForSent((m) => m.receiveId === chatId);
    expect(notice).toMatchObject({ kind: "create", receiveIdType: "chat_id" });
    expect(notice.text).toStartWith("大家好！");
    expect(notice.text).toContain("/bind");
    await fake.repush(added);
    await push(fake.botAddedEvent({ chatId, operatorOpenId: MEMBER }));
    await Bun.sleep(20);
    expect(fake.sent.filter((m) => m.receiveId === chatId)).toHaveLength(1);
  });

  test("added by someone not registered: no post", async () => {
    const chatId = newChat();
    await push(fake.botAddedEvent({ chatId, operatorOpenId: STRANGER }));
    await Bun.sleep(20);
    expect(fake.sent.filter((m) => m.receiveId === chatId)).toHaveLength(0);
    expect(r.lines.some((l) => l.includes("group_notice_skipped") && l.includes(chatId))).toBe(true);
  });

  test("removed: the group's binding is gone", async () => {
    const chatId = newChat();
    await bindings.bind({ chatId, ownerUserId: owner.user.id, boundBy: "admin" });
    await push(fake.botAddedEvent({ chatId, operatorOpenId: OWNER, removed: true }));
    expect(await bindings.get(chatId)).toBeUndefined();
  });
});
