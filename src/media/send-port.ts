/**
 * The outbox's port to Feishu, media included: a media send uploads its bytes once (unless its
 * outbox row already holds the key), records the key before anything is sent, then sends the
 * media message and its caption with the send's uuid. Other sends go straight to the sender.
 */
import type { Feishu } from "../feishu/index.ts";
import type { UploadRequest } from "../feishu/media-uploader.ts";
import type { SendPort } from "../relay/outbox.ts";
import { isMediaMsgType, type MediaMsgType, type RenderMode } from "../relay/protocol.ts";
import type { StreamManager } from "../relay/streams.ts";
import type { MediaRecord, MediaStore } from "./media-store.ts";
import { feishuFileName, feishuFileType } from "./mime-table.ts";

/** The upload for stored media sent as `msgType`; `file` is its bytes (a `Bun.file`). */
export function uploadRequestFor(
  msgType: MediaMsgType,
  media: Pick<MediaRecord, "mime" | "name">,
  file: Blob,
  durationMs?: number,
): UploadRequest {
  const fileName = feishuFileName(media.name, media.mime);
  if (msgType === "image") return { kind: "image", file, fileName };
  const withDuration = msgType === "audio" || msgType === "video";
  return {
    kind: "file",
    file,
    fileName,
    fileType: feishuFileType(msgType, media.mime),
    ...(withDuration && durationMs !== undefined ? { durationMs } : {}),
  };
}

/** A permanent failure the outbox reports with this code. */
const mediaGone = () =>
  Object.assign(new Error("the media of this send are no longer stored"), {
    code: "media_not_found",
    retryable: false,
  });

/** `renderMode`: how `markdown` sends that do not say are shown (FEISHU_RENDER_MODE). */
/**
 * Cluster: the row exists but the bytes are on the disk of the node that took the upload. Transient:
 * the send goes back to the outbox, and a later attempt (any node's claim) may run where they are.
 */
const mediaElsewhere = () =>
  Object.assign(new Error("the media of this send are stored on another relay node"), {
    code: "media_unavailable",
    retryable: true,
  });

export function feishuSendPort(
  feishu: Pick<Feishu, "sender" | "uploader">,
  store: Pick<MediaStore, "byId" | "path" | "shared">,
  renderMode: RenderMode = "auto",
  streams?: Pick<StreamManager, "finish">,
): SendPort {
  return async (target, req, uuid, owner, slot) => {
    const opts = { uuid, owner, retry: "once" as const };
    const type = req.msgType;
    // M2-3: a stream's final goes into its card; a stream without a card makes an ordinary send.
    const userId = /^user:(\d+)$/.exec(owner)?.[1];
    if (streams && req.streamId && userId && req.text && (type === "text" || type === "markdown")) {
      const ids = await streams.finish(Number(userId), req.streamId, req.text, uuid, type);
      if (ids) return ids;
    }
    if (!isMediaMsgType(type)) {
      return feishu.sender.deliver(
        target,
        { ...req, msgType: type, renderMode: req.renderMode ?? renderMode },
        opts,
      );
    }
    let key = slot?.key;
    if (!key) {
      const media = req.mediaId === undefined ? undefined : await store.byId(req.mediaId);
      const file = media && Bun.file(store.path(media.id));
      if (!media || !file) throw mediaGone();
      if (!(await file.exists())) throw store.shared ? mediaElsewhere() : mediaGone();
      key = await feishu.uploader.upload(uploadRequestFor(type, media, file, req.durationMs), { owner });
      await slot?.record(key);
    }
    return feishu.sender.deliver(target, { msgType: type, text: req.text, mediaKey: key }, opts);
  };
}
