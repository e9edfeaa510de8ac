/**
 * Request body handling for every route: a 1 MiB cap, JSON parsing with our own error codes, and the
 * raw text kept for routes that must verify a signature over the exact bytes (the Feishu webhook).
 */
import { HttpError } from "./errors.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

const rawBodies = new WeakMap<Request, string>();
const parseFailures = new WeakMap<Request, HttpError>();

/** The body exactly as received, for signature checks. Empty string when there was none. */
export const rawBody = (request: Request): string => rawBodies.get(request) ?? "";

/** Elysia wraps anything thrown while parsing in its own ParseError; this recovers ours. */
export const parseFailure = (request: Request): HttpError | undefined => parseFailures.get(request);

export function tooLarge(): HttpError {
  return new HttpError(413, "body_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
}

/** Rejects by Content-Length before reading anything. */
export function checkDeclaredLength(request: Request): HttpError | undefined {
  const declared = Number(request.headers.get("content-length") ?? 0);
  return declared > MAX_BODY_BYTES ? tooLarge() : undefined;
}

export async function parseJsonBody(request: Request): Promise<unknown> {
  const fail = (err: HttpError) => {
    parseFailures.set(request, err);
    throw err;
  };
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) return fail(tooLarge());
  const text = new TextDecoder().decode(bytes);
  rawBodies.set(request, text);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return fail(new HttpError(400, "invalid_json", "request body is not valid JSON"));
  }
}
