/**
 * `PUT /api/media` (docs/protocol.md "Outbound"): the plugin's raw bytes, streamed to disk (never
 * held whole), answered with the `mediaId` a media `send` then names. Same Bearer token as
 * `POST /api/messages`. The app's JSON parser leaves this route's body alone (ops/body.ts).
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { BEARER } from "../ops/openapi-detail.ts";
import type { MediaUploadResponse } from "../relay/protocol.ts";
import { databaseBusy, isDatabaseBusy } from "../relay/send-failure.ts";
import { authenticate } from "../users/tokens.ts";
import type { MediaStore } from "./media-store.ts";
import { isKnownMime, normaliseMime } from "./mime-table.ts";

export const MEDIA_UPLOAD_PATH = "/api/media";
/** Longest file name kept (Feishu shows it as the file's title). */
const MAX_NAME_CHARS = 255;

export function uploadRoutes(ctx: RelayContext, store: MediaStore) {
  return new Elysia({ name: "media-upload" }).put(
    MEDIA_UPLOAD_PATH,
    async ({ request, server, set }): Promise<MediaUploadResponse> => {
      const { user } = await authenticate(ctx, request, server);
      const mime = normaliseMime(request.headers.get("content-type"));
      if (!mime) throw new HttpError(400, "bad_request", "Content-Type (the file's MIME type) is required");
      if (!isKnownMime(mime))
        throw new HttpError(415, "unsupported_media_type", `the relay cannot send ${mime} to Feishu`);
      const name = fileName(request.headers.get("x-file-name"));
      const length = request.headers.get("content-length");
      try {
        const record = await store.put(user.id, request.body, {
          mime,
          name,
          declaredLength: length === null ? undefined : Number(length),
        });
        set.status = 201;
        return {
          mediaId: record.id,
          size: record.size,
          mime: record.mime,
          ...(record.name ? { name: record.name } : {}),
          expiresAt: record.expiresAt,
        };
      } catch (err) {
        if (err instanceof HttpError) throw err;
        ctx.log.error("media_store_failed", {
          userId: user.id,
          busy: isDatabaseBusy(err),
          err: err as Error,
        });
        throw isDatabaseBusy(err) ? databaseBusy() : err;
      }
    },
    {
      detail: {
        summary: "Upload media for a later send (M2-2)",
        description:
          "Raw body, Content-Type required, optional X-File-Name (percent-encoded UTF-8). Bearer user token. Answers 201 {mediaId,size,mime,name?,expiresAt}.",
        security: BEARER,
      },
    },
  );
}

/** `X-File-Name` is percent-encoded UTF-8; path parts and control characters are dropped. */
export function fileName(header: string | null): string | undefined {
  if (header === null || header.trim() === "") return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(header.trim());
  } catch {
    throw new HttpError(400, "bad_request", "X-File-Name must be percent-encoded UTF-8");
  }
  const printable = [...decoded].filter((ch) => ch >= " " && ch !== "\u007f").join("");
  const base = printable.split(/[\\/]/).pop() ?? "";
  if (base === "" || base === "." || base === "..")
    throw new HttpError(400, "bad_request", "X-File-Name is not a usable file name");
  return [...base].slice(0, MAX_NAME_CHARS).join("");
}
