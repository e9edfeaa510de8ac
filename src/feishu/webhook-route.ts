/**
 * `POST /api/feishu/webhook` (DESIGN §3, §6): the URL-verification challenge, decryption, signature and
 * token checks, then the shared ingest path. The answer (200) goes out only after the message is
 * committed; refusals are `{"error":{"code","message"}}` and store nothing.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { parseFailure, rawBody } from "../ops/body.ts";
import { HttpError } from "../ops/errors.ts";
import { jsonDepthError } from "../ops/json-depth.ts";
import type { EventIngest } from "./event-ingest.ts";
import { EventParseError, type FeishuEvent, parseEvent } from "./event-parser.ts";
import { FeishuWebhookError, FeishuWebhookVerifier } from "./webhook-crypto.ts";

export const WEBHOOK_PATH = "/api/feishu/webhook";

export function feishuWebhookRoutes(ctx: RelayContext, ingest: EventIngest) {
  const verifier = new FeishuWebhookVerifier({
    encryptKey: ctx.config.FEISHU_ENCRYPT_KEY,
    verificationToken: ctx.config.FEISHU_VERIFICATION_TOKEN,
  });
  const rejected = ctx.metrics.counter("events_rejected_total", "Feishu pushes refused, by reason.");
  const log = ctx.log.child({ module: "feishu_webhook" });
  if (!verifier.encrypted && !ctx.config.FEISHU_VERIFICATION_TOKEN) {
    // Anyone who finds the URL could inject messages; say so once at start-up.
    log.warn("feishu_webhook_unauthenticated", {
      hint: "set FEISHU_ENCRYPT_KEY (signed pushes) or at least FEISHU_VERIFICATION_TOKEN",
    });
  }
  const countRejection = (reason: string, request: Request, message: string) => {
    rejected.inc({ reason });
    log.warn("feishu_event_rejected", { reason, message, requestId: request.headers.get("x-request-id") });
  };

  return (
    new Elysia({ name: "feishu-webhook" })
      // Bodies refused while parsing (invalid JSON, over 1 MiB) never reach the handler and the app's
      // error handler answers them; they are counted here, once the answer is out.
      .onAfterResponse(({ request }) => {
        const failure = parseFailure(request);
        if (failure) countRejection(failure.code, request, failure.message);
      })
      .post(
        WEBHOOK_PATH,
        async ({ request, body }) => {
          let event: FeishuEvent;
          try {
            event = readEvent(verifier, body, request, ctx.now());
          } catch (err) {
            if (!(err instanceof FeishuWebhookError || err instanceof EventParseError)) throw err;
            const status = err instanceof FeishuWebhookError ? err.status : 400;
            countRejection(err.code, request, err.message);
            throw new HttpError(status, err.code, err.message);
          }
          if (event.kind === "challenge") {
            ingest.challengeAnswered("webhook");
            return { challenge: event.challenge };
          }
          await ingest.ingest(event, "webhook");
          return { msg: "success" };
        },
        {
          detail: {
            summary: "Feishu event callback",
            description:
              "URL verification, then decrypt, verify signature and token, dedupe and store; answered 200 after the commit.",
            tags: ["feishu"],
          },
        },
      )
  );
}

/**
 * Authenticates and parses one push. A challenge needs no signature (Feishu does not sign it) but
 * does carry the token; every other encrypted push must be signed over the raw body.
 */
function readEvent(
  verifier: FeishuWebhookVerifier,
  body: unknown,
  request: Request,
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
    if (!challenge) verifier.verifySignature(rawBody(request), request.headers, nowMs);
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
