/**
 * `POST /api/messages`: proactive sends for cron jobs, same body as the WebSocket `send` frame.
 * `Idempotency-Key` (or the body's `uuid`) makes a retried call safe: the same key returns the first
 * call's result.
 */
import { Elysia, t } from "elysia";
import type { RelayContext } from "../context.ts";
import { bodyMatches } from "../ops/body-schema.ts";
import { HttpError } from "../ops/errors.ts";
import { BEARER, errorResponse, jsonResponse } from "../ops/openapi-detail.ts";
import { authenticate } from "../users/tokens.ts";
import type { Outbox } from "./outbox.ts";
import { SendRequest } from "./protocol.ts";
import { sendFailure } from "./send-failure.ts";
import { sendProblem, submitSend } from "./send-service.ts";

/** How long the HTTP call waits for a send that had to be retried before answering 202. */
export const HTTP_WAIT_MS = 10_000;

const STATUS_BY_CODE: Record<string, number> = {
  forbidden_target: 403,
  bad_request: 400,
  feishu_unconfigured: 503,
  unavailable: 503,
  internal_error: 500,
  rate_limited: 429,
  media_not_found: 400,
  media_type_mismatch: 400,
};

export function messagesRoutes(ctx: RelayContext, outbox: Outbox, waitMs = HTTP_WAIT_MS) {
  return new Elysia({ name: "messages" }).post(
    "/api/messages",
    async ({ body, request, server, set }) => {
      const { user } = await authenticate(ctx, request, server);
      const problem = sendProblem(body);
      if (problem) throw new HttpError(400, "invalid_request", problem);
      const key = request.headers.get("idempotency-key")?.trim() || undefined;
      if (key && key.length > 50)
        throw new HttpError(400, "invalid_request", "Idempotency-Key is at most 50 characters");
      // Caught here, not after the race: a rejection arriving after the 202 would go unobserved.
      const outcome = submitSend(ctx, outbox, user, body, key ?? body.uuid).catch((err) =>
        sendFailure(err, ctx.log, { userId: user.id }),
      );
      const timer = new Promise<"pending">((r) => setTimeout(() => r("pending"), waitMs).unref());
      const result = await Promise.race([outcome, timer]);
      if (result === "pending") {
        set.status = 202;
        return {
          status: "pending" as const,
          message:
            "Feishu is failing transiently; the relay keeps retrying. Repeat the call with the same Idempotency-Key to learn the outcome.",
        };
      }
      if (!result.ok) {
        // Retry-After is in whole seconds, rounded up so a client never comes back too early.
        const retryAfterSec =
          result.retryAfterMs !== undefined ? Math.max(1, Math.ceil(result.retryAfterMs / 1000)) : undefined;
        const headers = retryAfterSec !== undefined ? { "retry-after": String(retryAfterSec) } : undefined;
        throw new HttpError(STATUS_BY_CODE[result.code] ?? 502, result.code, result.message, headers);
      }
      return { messageId: result.messageIds[0] ?? "", messageIds: result.messageIds };
    },
    {
      body: SendRequest,
      transform: bodyMatches(SendRequest),
      detail: {
        summary: "Proactive send (cron jobs)",
        description:
          "Same body as the WebSocket send frame. Bearer user token. Idempotency-Key header supported.",
        security: BEARER,
        parameters: [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description:
              "Repeat a call with the same key to get the first call's result (default: the body's uuid)",
            schema: { type: "string", maxLength: 50 },
          },
        ],
        responses: {
          "200": jsonResponse(
            "Sent; the Feishu message ids (a long markdown reply may be several messages)",
            t.Object({ messageId: t.String(), messageIds: t.Array(t.String()) }),
          ),
          "202": jsonResponse(
            "Feishu is failing transiently and the relay keeps retrying; repeat with the same Idempotency-Key",
            t.Object({ status: t.Literal("pending"), message: t.String() }),
          ),
          "403": errorResponse("The target is not the caller or a group bound to them (forbidden_target)"),
          "429": errorResponse("Rate limited; see Retry-After"),
          "502": errorResponse("Feishu refused the send"),
          "503": errorResponse("Feishu is not configured or unavailable"),
        },
      },
    },
  );
}
