/**
 * Outbound media (M2-2): the store of uploaded bytes, its sweep, `PUT /api/media`, and the hooks the
 * outbox uses (the admission check of media sends, and deleting media once their send was sent).
 */
import type { FeatureModule } from "../app.ts";
import type { RelayContext } from "../context.ts";
import { startPeriodic } from "../ops/periodic.ts";
import type { Admission } from "../relay/outbox.ts";
import type { SendRequest } from "../relay/protocol.ts";
import { createMediaRecords } from "./media-records.ts";
import { MediaStore, mediaFolderFor } from "./media-store.ts";
import { mediaAdmission } from "./send-check.ts";
import { uploadRoutes } from "./upload-route.ts";

/** How often expired and orphaned media are looked for. */
export const MEDIA_SWEEP_INTERVAL_MS = 5 * 60 * 1000;

export interface MediaService {
  store: MediaStore;
  admit: Admission;
  onSent: (req: SendRequest) => Promise<void>;
  feature: FeatureModule;
  /** One sweep pass now (also run at start: a crash may have left orphan files). */
  sweep: () => Promise<void>;
}

/** `dbPath`: the folder beside it holds the files (in cluster mode, this node's DATABASE_PATH). */
export function createMedia(ctx: RelayContext, dbPath: string): MediaService {
  const log = ctx.log.child({ module: "media" });
  const folder = mediaFolderFor(dbPath);
  const store = new MediaStore(createMediaRecords(ctx.storage), {
    ...folder,
    now: ctx.now,
    log,
    maxBytes: ctx.config.MEDIA_MAX_BYTES,
    quotaBytes: ctx.config.MEDIA_QUOTA_BYTES,
    retentionMs: ctx.config.MEDIA_RETENTION * 1000,
  });
  const sweeper = startPeriodic(ctx, MEDIA_SWEEP_INTERVAL_MS, async () => {
    try {
      await store.sweep();
    } catch (err) {
      // A busy database or a vanished file must not kill the timer: the next pass tries again.
      log.error("media_sweep_failed", { err: err as Error });
    }
  });
  sweeper.runOnce();
  ctx.metrics.gauge(
    "media_stored_bytes",
    "Bytes of uploaded media stored for later sends.",
    () => store.totals().bytes,
  );
  ctx.metrics.gauge(
    "media_stored_files",
    "Uploaded media stored for later sends.",
    () => store.totals().files,
  );
  // Registered before the outbox's hooks, so it runs after them: no send still reads the files.
  ctx.onShutdown("storage", "media-store", () => store.close());
  return {
    store,
    admit: mediaAdmission(store),
    onSent: async (req) => {
      if (req.mediaId !== undefined) await store.release(req.mediaId);
    },
    feature: (c) => uploadRoutes(c, store),
    sweep: () => sweeper.runOnce(),
  };
}
