/**
 * Inbound media throughput (M2-2), fake Feishu and relay each in their own process on 127.0.0.1:
 *   (a) direct: a `--mib` file read straight from the fake's message-resource API with a tenant
 *       token (what the relay's own fetch costs at best);
 *   (b) through the relay: `GET /api/media/:id` with the owner's token (inbox lookup, the Feishu
 *       fetch, streamed through), and the ratio (a)/(b) of the medians;
 *   (c) the relay's RSS while `--parallel` downloads of `--big-mib` run at once: the bytes stream,
 *       so the growth must stay well under parallel × size.
 * Bounded; stops by itself. Prints one JSON object, then a text summary.
 *
 *   bun bench/media-download.ts [--mib 10] [--rounds 5] [--parallel 20] [--big-mib 30]
 */
import { parseArgs } from "node:util";
import { attachmentId } from "../src/feishu/attachments.ts";
import { median, startFakeProcess, tenantToken, timed } from "./fake-process.ts";
import { createUsers, postWebhook, startRelay } from "./lib.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    parallel: { type: "string", default: "20" },
    "big-mib": { type: "string", default: "30" },
  },
});
const MIB = 1024 * 1024;
const SIZE = Number(values.mib) * MIB;
const BIG = Number(values["big-mib"]) * MIB;
const ROUNDS = Number(values.rounds);
const PARALLEL = Number(values.parallel);
const OWNER = "ou_bench_media_in";

const fake = await startFakeProcess();
const relay = await startRelay({
  env: {
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    MEDIA_MAX_BYTES: `${Math.max(30, Number(values["big-mib"]) + 1)}MiB`,
  },
});

try {
  const [token] = await createUsers(relay.base, [OWNER]);
  const small = await fileMessage("om_bench_media_small", "file_bench_small", SIZE);
  const big = await fileMessage("om_bench_media_big", "file_bench_big", BIG);
  const tenant = await tenantToken(fake);

  const direct = await timed(ROUNDS, () =>
    drain(
      fetch(
        `${fake.url}/open-apis/im/v1/messages/om_bench_media_small/resources/file_bench_small?type=file`,
        {
          headers: { authorization: `Bearer ${tenant}` },
        },
      ),
      SIZE,
    ),
  );
  const through = await timed(ROUNDS, () => download(token!, small, SIZE));

  const rssBefore = relay.rssKb();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, relay.rssKb());
  }, 5);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, () => download(token!, big, BIG)));
  const parallelMs = performance.now() - t0;
  clearInterval(sampler);

  const rate = (ms: number, bytes = SIZE) => Math.round((bytes / MIB / (ms / 1000)) * 10) / 10;
  const result = {
    sizeMiB: SIZE / MIB,
    rounds: ROUNDS,
    directMiBs: rate(median(direct)),
    relayMiBs: rate(median(through)),
    ratio: Math.round((median(direct) / median(through)) * 100) / 100,
    parallel: PARALLEL,
    bigMiB: BIG / MIB,
    parallelMs: Math.round(parallelMs),
    parallelMiBs: rate(parallelMs, PARALLEL * BIG),
    rssGrowthMiB: Math.round(((rssPeak - rssBefore) / 1024) * 10) / 10,
    rssBudgetMiB: (PARALLEL * BIG) / MIB,
  };
  console.log(JSON.stringify(result));
  console.log(
    `${result.sizeMiB} MiB: direct from the fake ${result.directMiBs} MiB/s; through the relay ` +
      `${result.relayMiBs} MiB/s; ratio ${result.ratio}. ${PARALLEL} × ${result.bigMiB} MiB at once: ` +
      `${result.parallelMiBs} MiB/s, RSS +${result.rssGrowthMiB} MiB (all bytes: ${result.rssBudgetMiB} MiB).`,
  );
} finally {
  await relay.stop();
  await fake.stop();
}

/** Registers a file of `size` bytes at the fake and pushes its message to OWNER; the attachment id. */
async function fileMessage(messageId: string, fileKey: string, size: number): Promise<string> {
  const bytes = new Uint8Array(size).map((_, i) => (i * 131) & 0xff);
  const reg = await fetch(`${fake.url}/_fake/resources`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messageId,
      fileKey,
      type: "file",
      mime: "application/pdf",
      fileName: "payload.pdf",
      bytesBase64: Buffer.from(bytes).toString("base64"),
    }),
  });
  if (!reg.ok) throw new Error(`register resource: ${reg.status} ${await reg.text()}`);
  const event = {
    schema: "2.0",
    header: {
      event_id: `ev_${messageId}`,
      event_type: "im.message.receive_v1",
      create_time: String(Date.now()),
      token: "",
      app_id: fake.appId,
      tenant_key: "t",
    },
    event: {
      sender: { sender_id: { open_id: OWNER }, sender_type: "user", tenant_key: "t" },
      message: {
        message_id: messageId,
        chat_id: "oc_bench",
        chat_type: "p2p",
        message_type: "file",
        content: JSON.stringify({ file_key: fileKey, file_name: "payload.pdf" }),
        create_time: String(Date.now()),
      },
    },
  };
  const status = await postWebhook(relay.base, JSON.stringify(event));
  if (status !== 200) throw new Error(`webhook: ${status}`);
  return attachmentId(messageId, 0);
}

function download(token: string, id: string, size: number): Promise<void> {
  return drain(
    fetch(`${relay.base}/api/media/${id}`, { headers: { authorization: `Bearer ${token}` } }),
    size,
  );
}

/** Reads the body chunk by chunk (never whole) and checks its length. */
async function drain(pending: Promise<Response>, size: number): Promise<void> {
  const res = await pending;
  if (!res.ok || !res.body) throw new Error(`download: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let n = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength;
  if (n !== size) throw new Error(`download: ${n} bytes, expected ${size}`);
}
