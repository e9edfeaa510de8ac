/**
 * The check a media send passes before the outbox stores it (docs/protocol.md "Outbound", step 2):
 * its `mediaId` must be the sender's own unexpired upload (`media_not_found` otherwise, the same
 * answer for another user's id as for none), and the bytes must suit the `msgType`
 * (`media_type_mismatch`). Both are final: retrying the same send cannot succeed.
 */
import type { Admission } from "../relay/outbox.ts";
import { isMediaMsgType } from "../relay/protocol.ts";
import type { MediaStore } from "./media-store.ts";
import { mediaMismatch } from "./mime-table.ts";

export function mediaAdmission(store: Pick<MediaStore, "find">): Admission {
  return async (userId, req) => {
    if (!isMediaMsgType(req.msgType) || req.mediaId === undefined) return undefined;
    const media = await store.find(userId, req.mediaId);
    if (!media)
      return {
        code: "media_not_found",
        message: "no such media: unknown, expired or already sent (upload it again with PUT /api/media)",
      };
    const mismatch = mediaMismatch(req.msgType, media);
    return mismatch ? { code: "media_type_mismatch", message: mismatch } : undefined;
  };
}
