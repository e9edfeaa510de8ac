/**
 * One path for every outgoing message, whether it came as a WebSocket `send` frame, a legacy
 * `llm_request` or `POST /api/messages`: validate, authorize the target, hand it to the outbox.
 */
import type { RelayContext } from "../context.ts";
import type { Outbox, SendOutcome, SubmitHooks } from "./outbox.ts";
import { isMediaMsgType, type SendRequest } from "./protocol.ts";
import { resolveTarget } from "./targets.ts";

/** What the schema cannot say: which fields each msgType needs. Undefined when fine. */
export function sendProblem(req: SendRequest): string | undefined {
  const type = req.msgType ?? "text";
  if ((type === "text" || type === "markdown") && (typeof req.text !== "string" || req.text === "")) {
    return `msgType ${type} needs a non-empty text`;
  }
  if (type === "interactive" && !req.content) return "msgType interactive needs content (the card)";
  if (type === "post" && !req.content && !req.text) return "msgType post needs content or text";
  if (isMediaMsgType(type)) {
    if (!req.mediaId) return `msgType ${type} needs a mediaId (from PUT /api/media)`;
  } else if (req.mediaId !== undefined) {
    return "mediaId goes only with msgType image, file, audio or video";
  }
  // M2-3: a stream's final is written into its card, which holds text only.
  if (req.streamId !== undefined && type !== "text" && type !== "markdown")
    return "streamId goes only with msgType text or markdown";
  return undefined;
}

export async function submitSend(
  ctx: RelayContext,
  outbox: Outbox,
  owner: { id: number; openId: string },
  req: SendRequest,
  uuid?: string,
  hooks?: SubmitHooks,
): Promise<SendOutcome> {
  const resolved = await resolveTarget(ctx.inbox, owner, req);
  if (!resolved.ok) {
    ctx.log.warn("send_forbidden", { userId: owner.id, code: resolved.code });
    return { ok: false, code: resolved.code, message: resolved.message, retryable: false };
  }
  return outbox.submit(
    owner.id,
    resolved.target,
    { ...req, msgType: req.msgType ?? "text" },
    uuid ?? req.uuid,
    hooks,
  );
}
