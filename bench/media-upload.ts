/**
 * Outbound media throughput (M2-2), fake Feishu and relay each in their own process on 127.0.0.1:
 *   (a) direct: a 10 MiB file uploaded straight to the fake's `im/v1/files` (what the relay's own
 *       upload costs at best);
 *   (b) through the relay: `PUT /api/media` (stream to disk, fsync), then `POST /api/messages` with
 *       msgType file (upload to the fake from disk, then the send), and the ratio to (a);
 *   (c) the relay's RSS while `--parallel` such PUT + send pairs run at once: the bytes stream, so the
 *       growth must stay well under parallel × size.
 * Bounded; stops by itself. Prints one JSON object, then a text summary.
 *
 *   bun bench/media-upload.ts [--mib 10] [--rounds 5] [--parallel 10]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { multipartBody } from "../src/feishu/multipart.ts";
import { median, startFakeProcess, tenantToken, timed } from "./fake-process.ts";
import { createUsers, startRelay } from "./lib.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    parallel: { type: "string", default: "10" },
  },
});
const SIZE = Number(values.mib) * 1024 * 1024;
const ROUNDS = Number(values.rounds);
const PARALLEL = Number(values.parallel);

const fake = await startFakeProcess();
const tmp = mkdtempSync(join(tmpdir(), "bench-media-"));
const filePath = join(tmp, "payload.pdf");
writeFileSync(
  filePath,
  new Uint8Array(SIZE).map((_, i) => (i * 131) & 0xff),
);
const relay = await startRelay({
  env: {
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    MEDIA_QUOTA_BYTES: `${Math.max(256, (PARALLEL + 2) * Number(values.mib))}MiB`,
    OUTBOX_MAX_QUEUED_PER_USER: String(Math.max(100, PARALLEL * 2)),
  },
});

try {
  const [token] = await createUsers(relay.base, ["ou_bench_media"]);
  const tenant = await tenantToken(fake);

  const direct = await timed(ROUNDS, async () => {
    const m = multipartBody(
      [
        ["file_type", "pdf"],
        ["file_name", "payload.pdf"],
      ],
      { field: "file", fileName: "payload.pdf", blob: Bun.file(filePath) },
    );
    const res = await fetch(`${fake.url}/open-apis/im/v1/files`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${tenant}`,
        "content-type": m.contentType,
        "content-length": String(m.contentLength),
      },
      body: m.body,
    });
    if (!res.ok) throw new Error(`direct upload: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  });

  const put = { ms: [] as number[] };
  const send = { ms: [] as number[] };
  const through = await timed(ROUNDS, async () => {
    const t0 = performance.now();
    const mediaId = await putMedia(token!);
    const t1 = performance.now();
    await sendFile(token!, mediaId);
    put.ms.push(t1 - t0);
    send.ms.push(performance.now() - t1);
  });

  // The relay's own view of its uploads to Feishu (the rest of "upload+send" is the outbox and the send).
  const metricsText = await relay.metrics();
  const sample = (suffix: string) =>
    Number(
      new RegExp(
        `feishu_request_duration_seconds_${suffix}\\{[^}]*api="im.file.create"[^}]*\\} ([0-9.e+-]+)`,
      ).exec(metricsText)?.[1] ?? Number.NaN,
    );
  const relayUploadMs = (sample("sum") / sample("count")) * 1000;

  const rssBefore = relay.rssKb();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, relay.rssKb());
  }, 5);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, async () => sendFile(token!, await putMedia(token!))));
  const parallelMs = performance.now() - t0;
  clearInterval(sampler);

  const mib = SIZE / 1024 / 1024;
  const rate = (ms: number) => Math.round((mib / (ms / 1000)) * 10) / 10;
  const result = {
    sizeMiB: mib,
    rounds: ROUNDS,
    directMiBs: rate(median(direct)),
    relayPutMiBs: rate(median(put.ms)),
    relaySendMiBs: rate(median(send.ms)),
    relayEndToEndMiBs: rate(median(through)),
    relayUploadMeanMs: Math.round(relayUploadMs),
    ratio: Math.round((median(direct) / median(through)) * 100) / 100,
    parallel: PARALLEL,
    parallelMs: Math.round(parallelMs),
    rssGrowthMiB: Math.round(((rssPeak - rssBefore) / 1024) * 10) / 10,
    rssBudgetMiB: PARALLEL * mib,
  };
  console.log(JSON.stringify(result));
  console.log(
    `direct upload ${result.directMiBs} MiB/s; through the relay ${result.relayEndToEndMiBs} MiB/s ` +
      `(PUT ${result.relayPutMiBs}, upload+send ${result.relaySendMiBs}); ratio ${result.ratio}. ` +
      `${PARALLEL} × ${mib} MiB at once: RSS +${result.rssGrowthMiB} MiB (all bytes: ${result.rssBudgetMiB} MiB).`,
  );
} finally {
  await relay.stop();
  await fake.stop();
  rmSync(tmp, { recursive: true, force: true });
}

async function putMedia(token: string): Promise<string> {
  const res = await fetch(`${relay.base}/api/media`, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/pdf",
      "x-file-name": "payload.pdf",
    },
    body: Bun.file(filePath),
  });
  if (res.status !== 201) throw new Error(`PUT /api/media: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { mediaId: string }).mediaId;
}

async function sendFile(token: string, mediaId: string): Promise<void> {
  const res = await fetch(`${relay.base}/api/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ msgType: "file", mediaId }),
  });
  if (res.status !== 200) throw new Error(`POST /api/messages: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}
