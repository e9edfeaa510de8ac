/**
 * Downloads stream, they are not held whole (issue 11): 20 parallel downloads of 30 MiB through the
 * real relay process must not grow its peak RSS (VmHWM) anywhere near 20 × 30 MiB.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { mediaContent } from "../fakes/feishu-resources.ts";
import { tempDir } from "../helpers.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { createUser, startRelayProcess } from "./relay-process.ts";

const ADMIN = "media-memory-admin-token-0123";
const SIZE = 30 * 1024 * 1024;
const PARALLEL = 20;
const fake = await startFakeFeishu();
const tmp = tempDir();
const relay = await startRelayProcess({
  DATABASE_PATH: join(tmp.dir, "memory.db"),
  ADMIN_TOKEN: ADMIN,
  FEISHU_APP_ID: fake.appId,
  FEISHU_APP_SECRET: fake.appSecret,
  FEISHU_DOMAIN: fake.url,
});
afterAll(async () => {
  await relay.stop();
  await fake.stop();
  tmp.cleanup();
});

/** Peak resident set of the relay process so far, in bytes (Linux). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

describe("download memory", () => {
  test(`${PARALLEL} parallel downloads of 30 MiB grow the relay's peak RSS by well under ${PARALLEL} × 30 MiB`, async () => {
    const token = await createUser(relay.base, ADMIN, "ou_memory", "Memory");
    const client = connect(relay.ws, { token });
    await client.next(isType("hello"));
    const bytes = randomBytes(SIZE);
    const urls: string[] = [];
    for (let i = 0; i < PARALLEL; i++) {
      const messageId = `om_memory_${i}`;
      fake.addResource({ messageId, fileKey: `file_${i}`, type: "file", bytes, mime: "video/mp4" });
      const event = fake.messageEvent({
        senderOpenId: "ou_memory",
        messageId,
        msgType: "file",
        content: mediaContent.file(`file_${i}`, `big-${i}.mp4`),
      });
      expect((await fake.pushEvent(`${relay.base}/api/feishu/webhook`, event)).status).toBe(200);
      const frame = await client.next((f) => f.type === "message" && f.messageId === messageId);
      urls.push(
        (frame.attachments as Array<{ url: string }>)[0]!.url.replace(/^https?:\/\/[^/]+/, relay.base),
      );
    }
    const before = peakRss(relay.proc.pid);
    const received = await Promise.all(
      urls.map(async (url) => {
        const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
        let n = 0;
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
        return n;
      }),
    );
    expect(received).toEqual(Array(PARALLEL).fill(SIZE));
    const growth = peakRss(relay.proc.pid) - before;
    console.log(
      `relay peak RSS growth during ${PARALLEL} × 30 MiB downloads: ${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(growth).toBeLessThan(150 * 1024 * 1024);
    client.close();
  }, 60_000);
});
