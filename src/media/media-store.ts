/**
 * Uploaded media (M2-2, `PUT /api/media`): bytes as files in a private folder beside the database,
 * metadata in the `media` table. A row exists only once its file is durably in place: the body is
 * streamed to a temporary file while it is counted and hashed, fsynced, renamed, the folder fsynced,
 * and only then the row is committed (synchronous=FULL: durable at COMMIT). A crash before the
 * commit leaves at most an orphan file, which the sweep removes.
 *
 * Lifetime: a send that uses the media pins it (its outbox row names it); once that send is sent the
 * media are deleted. Media no waiting send uses are deleted after the retention.
 *
 * Cluster mode (M2-6): the rows are shared (PostgreSQL), the bytes are not: a file lives on the
 * node that took its upload. A node without the file cannot upload it to Feishu (send-port.ts
 * then leaves the send for a retry, which any node may claim); a node's sweep removes its own files
 * whose rows another node deleted.
 */

import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DIR_MODE, FILE_MODE, MEDIA_FOLDER } from "../db/file-modes.ts";
import { randomToken } from "../ops/crypto.ts";
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { MediaRecord, MediaRecords, MediaTotals } from "./media-records.ts";

export type { MediaRecord } from "./media-records.ts";

export interface MediaStoreOptions {
  /** The folder for the files (`mediaFolderFor(DATABASE_PATH)`). */
  dir: string;
  /** Removed on close (the folder of an in-memory database). */
  temporary?: boolean;
  now?: () => number;
  log: Logger;
  /** MEDIA_MAX_BYTES: largest upload. */
  maxBytes: number;
  /** MEDIA_QUOTA_BYTES: bytes one user may have stored. */
  quotaBytes: number;
  /** MEDIA_RETENTION in ms: how long media no send used are kept. */
  retentionMs: number;
}

export interface PutMeta {
  mime: string;
  name?: string;
  /** Content-Length when the client sent one: refused early when over the limits. */
  declaredLength?: number;
}

const PART_SUFFIX = ".part";

/** Where the media of a database live: `media/` beside it, or a temporary folder for `:memory:`. */
export function mediaFolderFor(dbPath: string): { dir: string; temporary: boolean } {
  if (dbPath === ":memory:") return { dir: mkdtempSync(join(tmpdir(), "relay-media-")), temporary: true };
  return { dir: join(dirname(dbPath), MEDIA_FOLDER), temporary: false };
}

const mediaTooLarge = (max: number) =>
  new HttpError(413, "media_too_large", `the upload is larger than ${max} bytes (MEDIA_MAX_BYTES)`);
const overQuota = (quota: number) =>
  new HttpError(
    413,
    "media_quota_exceeded",
    `your stored media would exceed ${quota} bytes (MEDIA_QUOTA_BYTES); send or wait for earlier uploads to expire`,
  );

export class MediaStore {
  readonly #o: Required<Omit<MediaStoreOptions, "temporary">> & { temporary: boolean };
  /** Ids being written now: the sweep leaves their files alone. */
  readonly #writing = new Set<string>();
  readonly #q: MediaRecords;
  #lastTotals: MediaTotals = { files: 0, bytes: 0 };

  constructor(records: MediaRecords, opts: MediaStoreOptions) {
    this.#o = { now: Date.now, temporary: false, ...opts };
    mkdirSync(opts.dir, { recursive: true, mode: DIR_MODE });
    // Uploads are user data like the database: a folder left looser by hand is tightened.
    if ((statSync(opts.dir).mode & 0o077) !== 0) {
      try {
        chmodSync(opts.dir, DIR_MODE);
      } catch (err) {
        opts.log.warn("media_permissions_too_open", { path: opts.dir, err: err as Error });
      }
    }
    this.#q = records;
  }

  get dir(): string {
    return this.#o.dir;
  }

  /** The file holding a media's bytes. */
  path(id: string): string {
    return join(this.#o.dir, id);
  }

  /** The file of this media is on this node's disk (cluster: it may be on another node's). */
  hasFile(id: string): Promise<boolean> {
    return Bun.file(this.path(id)).exists();
  }

  /** Other nodes share the records (cluster mode). */
  get shared(): boolean {
    return this.#q.shared;
  }

  /** Media stored now, all users (metrics, read synchronously: PostgreSQL's shows at the next read). */
  totals(): MediaTotals {
    const totals = this.#q.totals();
    if (!(totals instanceof Promise)) return totals;
    totals.then(
      (t) => {
        this.#lastTotals = t;
      },
      (err) => this.#o.log.error("media_totals_failed", { err: err as Error }),
    );
    return this.#lastTotals;
  }

  /** Bytes the user has stored now. */
  usage(userId: number): Promise<number> {
    return this.#q.usage(userId);
  }

  /**
   * Streams `body` to disk and records it; resolves once both file and row are durable. Throws an
   * `HttpError` (empty_media, media_too_large, media_quota_exceeded) and leaves nothing behind.
   */
  async put(userId: number, body: ReadableStream<Uint8Array> | null, meta: PutMeta): Promise<MediaRecord> {
    const { maxBytes, quotaBytes } = this.#o;
    const declared = meta.declaredLength;
    if (declared !== undefined && declared > maxBytes) throw mediaTooLarge(maxBytes);
    if (declared === 0 || !body) throw emptyMedia();
    if (declared !== undefined && (await this.usage(userId)) + declared > quotaBytes)
      throw overQuota(quotaBytes);
    const id = `med_${randomToken(18)}`;
    const part = this.path(id) + PART_SUFFIX;
    this.#writing.add(id);
    try {
      const { size, sha256 } = await writeDurably(part, body, maxBytes);
      if (size === 0) throw emptyMedia();
      await rename(part, this.path(id));
      await syncFolder(this.#o.dir);
      // Checked again now that the size is known, atomically with the insert, so two uploads of
      // the same user cannot both slip under the quota.
      const now = this.#o.now();
      const record: MediaRecord = {
        id,
        userId,
        size,
        mime: meta.mime,
        name: meta.name ?? null,
        sha256,
        createdAt: now,
        expiresAt: now + this.#o.retentionMs,
      };
      if (!(await this.#q.insertWithinQuota(record, quotaBytes))) throw overQuota(quotaBytes);
      this.#o.log.info("media_stored", { userId, mediaId: id, size, mime: meta.mime });
      return record;
    } catch (err) {
      await unlink(part).catch(() => undefined);
      await unlink(this.path(id)).catch(() => undefined);
      throw err;
    } finally {
      this.#writing.delete(id);
    }
  }

  /** The user's media when it exists and has not expired; another user's is never returned. */
  async find(userId: number, id: string): Promise<MediaRecord | undefined> {
    const row = await this.#q.byId(id);
    if (!row || row.userId !== userId || row.expiresAt <= this.#o.now()) return undefined;
    return row;
  }

  /** Any media by id, expired or not (a waiting send keeps expired media alive). */
  byId(id: string): Promise<MediaRecord | undefined> {
    return this.#q.byId(id);
  }

  /** A send using the media was sent: delete it unless another waiting send still needs it. */
  async release(id: string): Promise<void> {
    if (await this.#q.pinned(id)) return;
    await this.#remove(id);
  }

  /**
   * Deletes expired media no waiting send uses, media whose sends were all sent, and files without a
   * row (a crash between the rename and the commit, or a half-written upload).
   */
  async sweep(): Promise<{ removed: number; orphans: number }> {
    const ids = await this.#q.sweepable(this.#o.now());
    for (const id of ids) await this.#remove(id);
    let orphans = 0;
    for (const file of readdirSync(this.#o.dir)) {
      const id = file.endsWith(PART_SUFFIX) ? file.slice(0, -PART_SUFFIX.length) : file;
      if (this.#writing.has(id) || (file === id && (await this.#q.byId(id)))) continue;
      // Written while the row was read: an upload that started after the listing.
      if (this.#writing.has(id)) continue;
      rmSync(join(this.#o.dir, file), { force: true, recursive: true });
      orphans++;
    }
    if (ids.length || orphans) this.#o.log.info("media_swept", { removed: ids.length, orphans });
    return { removed: ids.length, orphans };
  }

  /** Removes the folder of an in-memory database; a real one stays. */
  close(): void {
    if (this.#o.temporary) rmSync(this.#o.dir, { recursive: true, force: true });
  }

  async #remove(id: string): Promise<void> {
    await this.#q.remove(id);
    rmSync(this.path(id), { force: true });
  }
}

const emptyMedia = () => new HttpError(400, "empty_media", "the upload is empty (0 bytes)");

/** Writes the stream to a new private file, counting and hashing; fsyncs it before resolving. */
async function writeDurably(
  path: string,
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<{ size: number; sha256: string }> {
  const file = await open(path, "wx", FILE_MODE);
  const hash = new Bun.CryptoHasher("sha256");
  const reader = body.getReader();
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch(() => {
        throw new HttpError(400, "bad_request", "the upload was interrupted before its end");
      });
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw mediaTooLarge(maxBytes);
      }
      hash.update(value);
      await file.write(value);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return { size, sha256: hash.digest("hex") };
}

/** Makes a rename in `dir` durable. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
