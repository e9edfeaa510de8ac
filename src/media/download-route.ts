/**
 * `GET /api/media/:id` (docs/protocol.md "Media"): the bytes of one inbound attachment, streamed from
 * Feishu's message-resource API with the bot's tenant token. Bearer-authenticated like
 * `/api/messages`; only the user whose inbox holds the message may fetch it (anyone else: 404).
 * Nothing is buffered whole: Feishu's body is passed through a byte counter to the client.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { attachmentDisposition } from "../feishu/content-disposition.ts";
import { feishuHosts } from "../feishu/domain.ts";
import {
  DownloadRateLimiter,
  MessageResourceClient,
  type ResourceStream,
} from "../feishu/message-resource.ts";
import { HttpError } from "../ops/errors.ts";
import { BEARER } from "../ops/openapi-detail.ts";
import { authenticate } from "../users/tokens.ts";
import { limitBytes } from "./byte-limit.ts";
import { downloadError } from "./download-errors.ts";
import { InboxAttachments, type LocatedAttachment } from "./inbox-attachment.ts";
import { mimeExtension, normaliseMime } from "./mime-table.ts";

/**
 * Bun's server drops a Content-Length set on a streamed body and sends it chunked (oven-sh/bun#10507),
 * so files up to this size (most images and voice notes) are read whole and answered with their
 * length; larger ones stream chunked. 20 parallel downloads hold at most 20 × this.
 */
export const BUFFERED_MAX_BYTES = 1024 * 1024;

export interface DownloadRouteDeps {
  /** Default: one app-wide limiter at Feishu's 50/s and 1000/min. */
  limiter?: DownloadRateLimiter;
}

export function mediaDownloadRoutes(ctx: RelayContext, deps: DownloadRouteDeps = {}) {
  const log = ctx.log.child({ module: "media_download" });
  const maxBytes = ctx.config.MEDIA_MAX_BYTES;
  const attachments = new InboxAttachments(ctx.inbox.store);
  const limiter = deps.limiter ?? new DownloadRateLimiter({ now: ctx.now });
  const m = {
    downloads: ctx.metrics.counter("media_downloads_total", "Attachment downloads by outcome (status code)."),
    bytes: ctx.metrics.counter("media_download_bytes_total", "Attachment bytes streamed to plugins."),
  };
  let client: MessageResourceClient | undefined;
  const resources = (): MessageResourceClient | undefined => {
    const feishu = ctx.feishu;
    if (!feishu) return undefined;
    client ??= new MessageResourceClient({
      baseUrl: feishuHosts(ctx.config.FEISHU_DOMAIN).open,
      fetch: ctx.fetch,
      tokens: feishu.tokens,
      limiter,
      log,
    });
    return client;
  };

  /** One log line and one count per refused download. */
  const refuse = (err: HttpError, fields: Record<string, unknown>): never => {
    m.downloads.inc({ outcome: err.code });
    log.info("media_download", { ...fields, status: err.status, code: err.code });
    throw err;
  };

  /**
   * The 200 answer. Without a length, bytes are counted on the way and the answer is cut at the
   * limit. Over BUFFERED_MAX_BYTES, Feishu's own stream is handed to Bun, which pipes it natively
   * with backpressure (half the memory of a JS stream in between) and HTTP framing holds it to the
   * length checked before. Smaller files are read whole, so that the answer carries its length.
   */
  async function deliver(upstream: ResourceStream, headers: Headers, fields: Record<string, unknown>) {
    const served = (outcome: string, bytes: number) => {
      m.downloads.inc({ outcome });
      m.bytes.inc({}, bytes);
      log.info("media_download", { ...fields, status: 200, outcome, bytes, type: upstream.type });
    };
    const length = upstream.contentLength;
    if (length === undefined) {
      const body = limitBytes(upstream.body, { maxBytes, onEnd: (bytes, outcome) => served(outcome, bytes) });
      return new Response(body, { status: 200, headers });
    }
    if (length > BUFFERED_MAX_BYTES) {
      served("streamed", length);
      return new Response(upstream.body, { status: 200, headers });
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await new Response(upstream.body).arrayBuffer();
    } catch (err) {
      log.debug("media_download_failed", { ...fields, err: err as Error });
      return refuse(new HttpError(502, "feishu_unavailable", "the download from Feishu broke off"), fields);
    }
    served("complete", bytes.byteLength);
    return new Response(bytes, { status: 200, headers });
  }

  return new Elysia({ name: "media-download" }).get(
    "/api/media/:id",
    async ({ params, request, server }) => {
      const { user } = await authenticate(ctx, request, server);
      const found = await attachments.find(user.id, params.id);
      const fields = { userId: user.id, messageId: found?.messageId, kind: found?.attachment.kind };
      if (!found) return refuse(new HttpError(404, "not_found", "no such attachment"), fields);
      if (found.attachment.size !== undefined && found.attachment.size > maxBytes) {
        return refuse(tooLarge(maxBytes), fields);
      }
      const feishu = resources();
      if (!feishu) {
        return refuse(
          new HttpError(503, "feishu_unconfigured", "the relay has no Feishu app configured"),
          fields,
        );
      }
      let upstream: ResourceStream;
      try {
        upstream = await feishu.open({
          messageId: found.messageId,
          fileKey: found.ref.key,
          type: found.ref.resourceType,
          signal: request.signal,
        });
      } catch (err) {
        const mapped = downloadError(err);
        log.debug("media_download_failed", { ...fields, err: err as Error });
        return refuse(mapped, fields);
      }
      if (upstream.contentLength !== undefined && upstream.contentLength > maxBytes) {
        await upstream.body.cancel().catch(() => {});
        return refuse(tooLarge(maxBytes), fields);
      }
      return deliver(upstream, responseHeaders(found, upstream), fields);
    },
    {
      detail: {
        summary: "Download an inbound attachment",
        description:
          "Bearer user token. Streams the bytes of an attachment of a message in the caller's inbox from Feishu.",
        security: BEARER,
      },
    },
  );
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "media_too_large", `the file is larger than MEDIA_MAX_BYTES (${maxBytes} bytes)`);
}

function responseHeaders(
  found: LocatedAttachment,
  upstream: {
    contentType: string | undefined;
    contentLength: number | undefined;
    fileName: string | undefined;
  },
): Headers {
  const contentType = upstream.contentType || "application/octet-stream";
  // A download Feishu named no file for is saved by the plugin under `<kind>.<ext>`.
  const ext = mimeExtension(normaliseMime(contentType) ?? "");
  const name =
    upstream.fileName ?? found.attachment.name ?? `${found.attachment.kind}${ext ? `.${ext}` : ""}`;
  const headers = new Headers({
    "content-type": contentType,
    "content-disposition": attachmentDisposition(name),
    // The bytes are one user's: no shared cache may keep them.
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
  });
  if (upstream.contentLength !== undefined) headers.set("content-length", String(upstream.contentLength));
  return headers;
}
