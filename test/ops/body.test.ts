import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { jsonDepth, jsonDepthError, MAX_JSON_DEPTH } from "../../src/ops/json-depth.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { ingestRelay } from "../feishu/helpers.ts";
import { testRelay } from "../users/helpers.ts";

const ALICE = "ou_a11ce000000000000000000000000a11";

const nested = (depth: number, leaf = "1") => "[".repeat(depth) + leaf + "]".repeat(depth);
/** `{"content":{"a":{"a":…}}}`: an object chain, so an object schema still accepts the outer levels. */
const deepSend = (depth: number) =>
  `{"to":"user:${ALICE}","msgType":"interactive","content":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;

describe("JSON depth scan", () => {
  test("counts objects and arrays, ignoring brackets inside strings and escaped quotes", () => {
    expect(jsonDepth("1")).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonDepth('["[[[[", "\\"[[[", {"k]]}": "{{"}]')).toBe(2);
    expect(jsonDepth(nested(100_000))).toBe(100_000);
  });

  test("the cap allows exactly MAX_JSON_DEPTH levels", () => {
    expect(jsonDepthError(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(jsonDepthError(nested(MAX_JSON_DEPTH + 1))).toContain(`deeper than ${MAX_JSON_DEPTH}`);
  });
});

describe("deeply nested bodies → 400 invalid_json", () => {
  let fake: FakeFeishu;
  beforeAll(async () => {
    fake = await startFakeFeishu();
  });
  afterAll(() => fake.stop());

  test("POST /api/messages with a body nested 60,000 deep", async () => {
    const r = await testRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
    });
    try {
      const { user } = await r.ctx.users.upsert({ openId: ALICE, name: "Alice" });
      const { token } = await r.ctx.tokens.issue(user);
      const res = await r.app.handle(
        new Request("http://localhost/api/messages", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: deepSend(60_000),
        }),
      );
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("invalid_json");
      expect(body.error.message).toContain(`deeper than ${MAX_JSON_DEPTH}`);
    } finally {
      await r.cleanup();
    }
  });

  test("the Feishu webhook, and the relay keeps working", async () => {
    const relay = await ingestRelay(fake);
    try {
      const alice = await relay.addUser(ALICE);
      const res = await relay.post(`{"schema":"2.0","header":${nested(60_000, "{}")}}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
      const ok = await relay.post(fake.messageEvent({ senderOpenId: ALICE, text: "after" }));
      expect(ok.status).toBe(200);
      expect(await relay.ctx.inbox.pending(alice)).toHaveLength(1);
    } finally {
      await relay.close();
    }
  });
});

describe("a chunked body without Content-Length", () => {
  test("is refused with 413 once the cap is passed, without waiting for the rest", async () => {
    const fake = await startFakeFeishu();
    const relay = await ingestRelay(fake);
    try {
      const url = new URL(relay.listen());
      const socket = connect(Number(url.port), "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      const answered = new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (d) => {
          text += d.toString();
          if (text.includes("\r\n\r\n")) resolve(text);
        });
        socket.on("close", () => resolve(text));
      });
      socket.on("error", () => {});
      socket.write(
        `POST ${url.pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      // 1 MiB + 64 KiB of body, and the chunked body is never finished: only a server that counts
      // while reading can answer at all.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 17; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      const head = await answered;
      socket.destroy();
      expect(head).toMatch(/^HTTP\/1\.1 413 /);
      expect(await relay.storedCount()).toBe(0);
    } finally {
      await relay.close();
      fake.stop();
    }
  });
});
