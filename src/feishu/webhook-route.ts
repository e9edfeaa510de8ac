/**
 * `POST /api/feishu/webhook` (DESIGN §3, §6), the relay's hot path: the URL-verification challenge,
 * decryption, signature and token checks, then the shared ingest path. The answer (200) goes out only
 * after the message is durable; refusals are `{"error":{"code","message"}}` and store nothing.
 *
 * Served as a raw Bun.serve route (ops/raw-route.ts), outside Elysia's lifecycle: this module does what
 * the app's hooks do for every other route — the 1 MiB body cap, the JSON nesting cap, the error
 * bodies, `http_requests_total` — itself, once per request, with nothing built that is not needed.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { checkDeclaredLength, MAX_BODY_BYTES, parseJsonText, readCappedText, tooLarge } from "../ops/body.ts";
import { errorResponse, HttpError } from "../ops/errors.ts";
import { jsonDepthError } from "../ops/json-depth.ts";
import { countRequests, failedAnswer, type RawRoute, withRawRoutes } from "../ops/raw-route.ts";
import type { EventIngest } from "./event-ingest.ts";
import { EventParseError, type FeishuEvent, parseEvent } from "./event-parser.ts";
import { FeishuWebhookError, FeishuWebhookVerifier } from "./webhook-crypto.ts";

export const WEBHOOK_PATH = "/api/feishu/webhook";

const JSON_HEADERS = { "content-type": "application/json" };
const SUCCESS = '{"msg":"success"}';

/** The webhook as a raw route: one function from request to answer, never throwing. */
export function feishuWebhookHandler(ctx: RelayContext, ingest: EventIngest): RawRoute {
  const verifier = new FeishuWebhookVerifier({
    encryptKey: ctx.config.FEISHU_ENCRYPT_KEY,
    verificationToken: ctx.config.FEISHU_VERIFICATION_TOKEN,
  });
  const rejected = ctx.metrics.counter("events_rejected_total", "Feishu pushes refused, by reason.");
  const count = countRequests(ctx.metrics, "POST", WEBHOOK_PATH);
  const log = ctx.log.child({ module: "feishu_webhook" });
  /** Not stored (or not known to be durable): Feishu pushes it again later. */
  const failed = failedAnswer(log, WEBHOOK_PATH, count);
  if (!verifier.encrypted && !ctx.config.FEISHU_VERIFICATION_TOKEN) {
    // Anyone who finds the URL could inject messages; say so once at start-up.
    log.warn("feishu_webhook_unauthenticated", {
      hint: "set FEISHU_ENCRYPT_KEY (signed pushes) or at least FEISHU_VERIFICATION_TOKEN",
    });
  }
  const refuse = (request: Request, status: number, code: string, message: string): Response => {
    rejected.inc({ reason: code });
    log.warn("feishu_event_rejected", {
      reason: code,
      message,
      requestId: request.headers.get("x-request-id"),
    });
    count(status);
    return errorResponse(status, code, message);
  };

  async function answer(request: Request): Promise<Response> {
    const declared = request.headers.get("content-length");
    const tooBig = checkDeclaredLength(request, declared);
    if (tooBig) return refuse(request, tooBig.status, tooBig.code, tooBig.message);
    const text = await readCappedText(request, MAX_BODY_BYTES, declared);
    if (text === undefined) {
      const err = tooLarge();
      return refuse(request, err.status, err.code, err.message);
    }
    let event: FeishuEvent;
    try {
      event = readEvent(verifier, parseJsonText(text), text, request.headers, ctx.now());
    } catch (err) {
      if (err instanceof FeishuWebhookError) return refuse(request, err.status, err.code, err.message);
      if (err instanceof EventParseError) return refuse(request, 400, err.code, err.message);
      if (err instanceof HttpError) return refuse(request, err.status, err.code, err.message);
      throw err;
    }
    if (event.kind === "challenge") {
      ingest.challengeAnswered("webhook");
      count(200);
      return new Response(JSON.stringify({ challenge: event.challenge }), { headers: JSON_HEADERS });
    }
    await ingest.ingest(event, "webhook");
    count(200);
    return new Response(SUCCESS, { headers: JSON_HEADERS });
  }

  return {
    method: "POST",
    path: WEBHOOK_PATH,
    // No async wrapper of its own: one promise less per request on the hot path.
    handle: (request) => answer(request).catch(failed),
  };
}

/** The webhook as a feature plugin: declared in Elysia (docs, `app.handle()`), served raw by Bun. */
export function feishuWebhookRoutes(ctx: RelayContext, ingest: EventIngest) {
  const route = feishuWebhookHandler(ctx, ingest);
  const plugin = new Elysia({ name: "feishu-webhook" }).post(
    WEBHOOK_PATH,
    ({ request }) => route.handle(request),
    {
      detail: {
        summary: "Feishu event callback",
        description:
          "URL verification, then decrypt, verify signature and token, dedupe and store; answered 200 after the commit.",
        tags: ["feishu"],
      },
    },
  );
  return withRawRoutes(plugin, [route]);
}

/**
 * Authenticates and parses one push. A challenge needs no signature (Feishu does not sign it) but
 * does carry the token; every other encrypted push must be signed over the raw body.
 */
function readEvent(
  verifier: FeishuWebhookVerifier,
  body: unknown,
  rawBody: string,
  headers: Headers,
  nowMs: number,
): FeishuEvent {
  const encrypt = (body as { encrypt?: unknown } | null)?.encrypt;
  let decoded = body;
  if (verifier.encrypted) {
    if (typeof encrypt !== "string") {
      throw new EventParseError('body must be {"encrypt": …} when FEISHU_ENCRYPT_KEY is set');
    }
    decoded = decryptJson(verifier, encrypt);
    const challenge = (decoded as { type?: unknown } | null)?.type === "url_verification";
    if (!challenge) verifier.verifySignature(rawBody, headers, nowMs);
  } else if (encrypt !== undefined) {
    throw new FeishuWebhookError("undecryptable", "body is encrypted but FEISHU_ENCRYPT_KEY is not set");
  }
  const event = parseEvent(decoded);
  verifier.checkToken(event.kind === "challenge" ? event.token : event.meta.token);
  return event;
}

function decryptJson(verifier: FeishuWebhookVerifier, encrypt: string): unknown {
  const plaintext = verifier.decrypt(encrypt);
  const tooDeep = jsonDepthError(plaintext);
  if (tooDeep) throw new FeishuWebhookError("undecryptable", `decrypted body: ${tooDeep}`);
  try {
    return JSON.parse(plaintext);
  } catch {
    throw new FeishuWebhookError("undecryptable", "decrypted body is not JSON");
  }
}
