/**
 * Upload endpoints (reference §11.2): `POST /open-apis/im/v1/images` and `/open-apis/im/v1/files`,
 * multipart, tenant token checked by the router. Every accepted upload is recorded with its key, and
 * the send endpoints (feishu-im.ts) accept media messages only with a key issued here whose upload
 * matches the msg_type (230055 otherwise).
 */
import { createHash } from "node:crypto";
import { feishuError, hex, ok, type Reply, WaitableList } from "./feishu-common.ts";
import { type Failure, failureReply } from "./feishu-switches.ts";

export const IMAGES_PATH = "/open-apis/im/v1/images";
export const FILES_PATH = "/open-apis/im/v1/files";
/** 10 MB and 30 MB, counted in MiB as the official plugin does (reference §11.2). */
export const IMAGE_LIMIT = 10 * 1024 * 1024;
export const FILE_LIMIT = 30 * 1024 * 1024;
export const FILE_TYPES = ["opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"] as const;

export interface UploadRecord {
  key: string;
  kind: "image" | "file";
  /** `file_type` of a file upload. */
  fileType?: string;
  fileName?: string;
  /** `duration` (ms) when given. */
  duration?: number;
  size: number;
  sha256: string;
  /** Fake clock time (ms). */
  at: number;
}

/** The send `msg_type` an upload may be sent as: opus → audio, mp4 → media, image → image, else file. */
export function msgTypeForUpload(u: Pick<UploadRecord, "kind" | "fileType">): string {
  if (u.kind === "image") return "image";
  if (u.fileType === "opus") return "audio";
  if (u.fileType === "mp4") return "media";
  return "file";
}

/** Whether the bytes start like one of the formats `im/v1/images` takes. */
export function looksLikeImage(b: Uint8Array): boolean {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true; // JPEG
  if (b[0] === 0x89 && ascii(1, 4) === "PNG") return true;
  if (ascii(0, 4) === "GIF8") return true;
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return true;
  if (ascii(0, 2) === "BM") return true;
  if (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0) return true; // ICO
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return true; // TIFF
  return ascii(4, 8) === "ftyp" && ["heic", "heix", "mif1", "msf1"].includes(ascii(8, 12));
}

const invalidParam = (why: string) => feishuError(400, 234001, `Invalid request param. ${why}`);

export class UploadsApi {
  readonly uploads = new WaitableList<UploadRecord>();
  readonly #byKey = new Map<string, UploadRecord>();
  #faults: Array<{ remaining: number; failure: Failure }> = [];

  constructor(private readonly clock: () => number) {}

  handles(method: string, path: string): boolean {
    return method === "POST" && (path === IMAGES_PATH || path === FILES_PATH);
  }

  /** The next `n` uploads answer `failure` (e.g. a 500 or a 429) instead. */
  failNext(n: number, failure: Failure): void {
    if (n > 0) this.#faults.push({ remaining: n, failure });
  }

  /** The upload a key was issued for. */
  byKey(key: string): UploadRecord | undefined {
    return this.#byKey.get(key);
  }

  reset(): void {
    this.uploads.clear();
    this.#byKey.clear();
    this.#faults = [];
  }

  /** Handles an authorised upload request. */
  async handle(req: Request, path: string, authErrorStatus: number): Promise<Reply> {
    const fault = this.#faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.#faults.shift();
      return failureReply(fault.failure, authErrorStatus);
    }
    if (!(req.headers.get("content-type") ?? "").startsWith("multipart/form-data"))
      return invalidParam("content type must be multipart/form-data");
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      return invalidParam("malformed multipart body");
    }
    return path === IMAGES_PATH ? this.#image(form) : this.#file(form);
  }

  async #image(form: FormData): Promise<Reply> {
    if (form.get("image_type") !== "message" && form.get("image_type") !== "avatar")
      return invalidParam("image_type must be message or avatar");
    const file = form.get("image");
    if (!(file instanceof Blob)) return invalidParam("image is required");
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.byteLength === 0) return feishuError(400, 234010, "File's size can't be 0.");
    if (bytes.byteLength > IMAGE_LIMIT) return feishuError(400, 234006, "The file size exceeds the limit.");
    if (!looksLikeImage(bytes)) return feishuError(400, 234011, "Can't recognize image format.");
    const record = this.#record({ key: `img_v3_${hex(12)}`, kind: "image" }, bytes);
    return ok({ code: 0, msg: "success", data: { image_key: record.key } });
  }

  async #file(form: FormData): Promise<Reply> {
    const fileType = form.get("file_type");
    if (typeof fileType !== "string" || !(FILE_TYPES as readonly string[]).includes(fileType))
      return invalidParam("file_type must be one of opus, mp4, pdf, doc, xls, ppt, stream");
    const fileName = form.get("file_name");
    if (typeof fileName !== "string" || fileName === "") return invalidParam("file_name is required");
    const rawDuration = form.get("duration");
    const duration = typeof rawDuration === "string" ? Number(rawDuration) : undefined;
    if (duration !== undefined && !Number.isInteger(duration)) return invalidParam("duration must be an int");
    const file = form.get("file");
    if (!(file instanceof Blob)) return invalidParam("file is required");
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.byteLength === 0) return feishuError(400, 234010, "File's size can't be 0.");
    if (bytes.byteLength > FILE_LIMIT) return feishuError(400, 234006, "The file size exceeds the limit.");
    const record = this.#record(
      { key: `file_v3_${hex(12)}`, kind: "file", fileType, fileName, duration },
      bytes,
    );
    return ok({ code: 0, msg: "success", data: { file_key: record.key } });
  }

  #record(base: Omit<UploadRecord, "size" | "sha256" | "at">, bytes: Uint8Array): UploadRecord {
    const record: UploadRecord = {
      ...base,
      size: bytes.byteLength,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      at: this.clock(),
    };
    this.#byKey.set(record.key, record);
    this.uploads.push(record);
    return record;
  }
}
