import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import {
  messageFrameJson,
  PluginConnection,
  READ_RETRY_MS,
  type SocketLike,
} from "../../src/relay/connection.ts";
import type { Inbox } from "../../src/relay/inbox.ts";
import { tempDir } from "../helpers.ts";
import { sqliteInbox } from "./sqlite-inbox.ts";

/** A socket whose send answers what the test scripts: bytes, -1 (backpressure) or 0 (dropped). */
function scriptedSocket() {
  const written: number[] = [];
  let answer = 1;
  const socket: SocketLike = {
    send(data: string) {
      if (answer === 0) return 0;
      written.push((JSON.parse(data) as { seq: number }).seq);
      return answer;
    },
    close() {},
  };
  return { socket, written, answer: (a: number) => (answer = a) };
}

async function setup() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "c.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
  const inbox = sqliteInbox(db, { log: memoryLogger().log, metrics: new Registry() });
  const store = (n: number) =>
    inbox.accept({
      userId: 1,
      eventId: `e${n}`,
      message: {
        messageId: `om_${n}`,
        chatId: "oc",
        chatType: "p2p",
        sender: { openId: "ou_s" },
        mentionedBot: false,
        msgType: "text",
        text: "x",
        content: {},
        mentions: [],
        createTime: 0,
      },
    });
  return {
    inbox,
    store,
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

const connectionFor = (socket: SocketLike, inbox: Inbox) =>
  new PluginConnection(
    socket,
    { id: 1, openId: "ou_1", name: "", tokenVersion: 1 },
    "s",
    false,
    inbox,
    { delivered() {} },
    0,
  );

describe("message frames", () => {
  test("built from the stored JSON, they equal serialising the frame object", () => {
    const message = {
      messageId: "om_1",
      chatId: "oc_1",
      chatType: "p2p",
      sender: { openId: "ou_1", name: '名字 "quoted"' },
      mentionedBot: false,
      msgType: "text",
      text: "hello\nworld",
      content: { text: "hello\nworld" },
      mentions: [],
      createTime: 1,
    };
    const fromPayload = messageFrameJson(7, JSON.stringify(message));
    expect(fromPayload).toBe(JSON.stringify({ type: "message", seq: 7, ...message }));
    expect(JSON.parse(messageFrameJson(8, "{}"))).toEqual({ type: "message", seq: 8 });
  });
});

describe("plugin connection delivery", () => {
  test("backpressure pauses the pump; drain resumes it in order, nothing skipped", async () => {
    const s = await setup();
    for (let i = 1; i <= 5; i++) await s.store(i);
    const sock = scriptedSocket();
    const conn = connectionFor(sock.socket, s.inbox);
    sock.answer(-1); // the first frame is queued behind backpressure
    conn.pump();
    expect(sock.written).toEqual([1]);
    sock.answer(100);
    conn.drained();
    expect(sock.written).toEqual([1, 2, 3, 4, 5]);
    s.close();
  });

  test("a dropped frame is not counted as sent and goes again after drain", async () => {
    const s = await setup();
    for (let i = 1; i <= 3; i++) await s.store(i);
    const sock = scriptedSocket();
    const conn = connectionFor(sock.socket, s.inbox);
    sock.answer(0);
    conn.pump();
    expect(conn.lastSentSeq).toBe(0);
    sock.answer(100);
    conn.drained();
    expect(sock.written).toEqual([1, 2, 3]);
    s.close();
  });

  test("live messages behind a running replay wait their turn", async () => {
    const s = await setup();
    await s.store(1);
    const sock = scriptedSocket();
    const conn = connectionFor(sock.socket, s.inbox);
    const r2 = await s.store(2);
    // Seq 2 arrives live before seq 1 was replayed: the gap sends the connection to the inbox.
    conn.deliverLive([
      {
        userId: 1,
        seq: r2.status === "stored" ? r2.seq : 0,
        message: {} as never,
        payload: "{}",
        receivedAt: 0,
      },
    ]);
    expect(sock.written).toEqual([1, 2]);
    s.close();
  });
});

describe("acks", () => {
  test("an ack past what this connection was sent only covers what it was sent", async () => {
    const s = await setup();
    for (let i = 1; i <= 3; i++) await s.store(i);
    const sock = scriptedSocket();
    const conn = connectionFor(sock.socket, s.inbox);
    sock.answer(-1); // backpressure after seq 1: seqs 2 and 3 are stored but not yet sent
    conn.pump();
    expect(sock.written).toEqual([1]);
    conn.ack(3);
    expect(await s.inbox.ackedSeq(1)).toBe(1);
    expect(await s.inbox.pendingCount(1)).toBe(2);
    s.close();
  });
});

describe("awaited reads (PostgreSQL)", () => {
  /** An inbox whose reads are promises, the first `failures` of them rejected. */
  function asyncInbox(seqs: number[], failures = 0) {
    let calls = 0;
    const stored = seqs.map((seq) => ({ userId: 1, seq, message: {}, payload: "{}", receivedAt: 0 }));
    const inbox = {
      pending: async (_userId: number, after: number) => {
        calls += 1;
        await Bun.sleep(1);
        if (calls <= failures) throw new Error("connection closed");
        return stored.filter((m) => m.seq > after);
      },
      ack() {},
    } as unknown as Inbox;
    return { inbox, calls: () => calls };
  }

  test("live messages arriving during a read wait for it; each seq goes once, in order", async () => {
    const { inbox } = asyncInbox([1, 2, 3, 4]);
    const sock = scriptedSocket();
    const conn = connectionFor(sock.socket, inbox);
    conn.pump();
    // Committed while the replay read is under way: delivered from memory would overtake it.
    conn.deliverLive([{ userId: 1, seq: 4, message: {} as never, payload: "{}", receivedAt: 0 }]);
    conn.pump();
    await Bun.sleep(30);
    expect(sock.written).toEqual([1, 2, 3, 4]);
  });

  test("a failed read is logged and tried again", async () => {
    const { inbox, calls } = asyncInbox([1, 2], 1);
    const sock = scriptedSocket();
    const failed: unknown[] = [];
    const conn = new PluginConnection(
      sock.socket,
      { id: 1, openId: "ou_1", name: "", tokenVersion: 1 },
      "s",
      false,
      inbox,
      { delivered() {}, readFailed: (err) => failed.push(err) },
      0,
    );
    conn.pump();
    await Bun.sleep(READ_RETRY_MS + 100);
    expect(failed).toHaveLength(1);
    expect(calls()).toBeGreaterThanOrEqual(2);
    expect(sock.written).toEqual([1, 2]);
  });
});
