/**
 * Request body handling for every route: a 1 MiB cap counted while the body streams in, a nesting
 * cap checked before JSON.parse, and JSON parsing with our own error codes. The Feishu webhook reads
 * its own body with the same pieces (it verifies a signature over the exact text).
 */
import { HttpError } from "./errors.ts";
import { jsonDepthError } from "./json-depth.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

const parseFailures = new WeakMap<Request, HttpError>();

/** Elysia wraps anything thrown while parsing in its own ParseError; this recovers ours. */
export const parseFailure = (request: Request): HttpError | undefined => parseFailures.get(request);

export function tooLarge(): HttpError {
  return new HttpError(413, "body_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
}

/**
 * `PUT /api/media` streams its own body to disk under its own limit (MEDIA_MAX_BYTES): neither the
 * 1 MiB cap nor the JSON parser applies to it.
 */
export function streamsOwnBody(request: Request): boolean {
  if (request.method !== "PUT") return false;
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  return url.slice(start, end < 0 ? undefined : end) === "/api/media";
}

/** What the parser hands a route that reads its own body: the stream is left unread. */
export const STREAMED_BODY = Object.freeze({ streamed: true });

/**
 * Rejects by Content-Length before reading anything. `declared` is the header's value when the caller
 * has read it already (the webhook reads it once for this and for `readCappedText`).
 */
export function checkDeclaredLength(
  request: Request,
  declared = request.headers.get("content-length"),
): HttpError | undefined {
  return Number(declared ?? 0) > MAX_BODY_BYTES && !streamsOwnBody(request) ? tooLarge() : undefined;
}

/**
 * Reads the body chunk by chunk and stops at the cap: a chunked body has no Content-Length, and
 * `arrayBuffer()` would buffer up to the server's own limit (8 MiB) before we could say no.
 * Returns undefined when the body is over the cap (the stream is cancelled, nothing more is read).
 */
async function readStreamCapped(request: Request, cap: number): Promise<Uint8Array | undefined> {
  const stream = request.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

/**
 * The body as text, or undefined when it is over the cap. A declared length within the cap
 * (checkDeclaredLength refused larger ones) bounds what the server reads, so Bun reads and decodes it
 * in one native call, a few µs cheaper than the stream loop on the webhook path.
 */
export async function readCappedText(
  request: Request,
  cap = MAX_BODY_BYTES,
  declared = request.headers.get("content-length"),
): Promise<string | undefined> {
  if (declared !== null && Number(declared) <= cap) {
    const text = await request.text();
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long text needs its bytes counted.
    return text.length * 3 > cap && Buffer.byteLength(text) > cap ? undefined : text;
  }
  const bytes = await readStreamCapped(request, cap);
  return bytes && new TextDecoder().decode(bytes);
}

/** JSON text → value: undefined for an empty body, a 400 `invalid_json` for bad or too deep JSON. */
export function parseJsonText(text: string): unknown {
  if (text.trim() === "") return undefined;
  const tooDeep = jsonDepthError(text);
  if (tooDeep) throw new HttpError(400, "invalid_json", tooDeep);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "request body is not valid JSON");
  }
}

export async function parseJsonBody(request: Request): Promise<unknown> {
  const fail = (err: HttpError) => {
    parseFailures.set(request, err);
    throw err;
  };
  const text = await readCappedText(request);
  if (text === undefined) return fail(tooLarge());
  try {
    return parseJsonText(text);
  } catch (err) {
    return fail(err as HttpError);
  }
}
