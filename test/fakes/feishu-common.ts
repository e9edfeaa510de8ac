/** Shared plumbing of the fake Feishu server: replies, ids, waiters and the shared context. */
import { randomBytes } from "node:crypto";

/** What a route handler answers; the router turns it into a Response and records the call. */
export interface Reply {
  status: number;
  /** Objects are sent as JSON; strings as-is (e.g. an HTML-ish 502 body). */
  body: unknown;
  headers?: Record<string, string>;
  /** Set when the body is not a plain object with `code` (e.g. a redirect). */
  code?: number;
}

export type JsonObject = Record<string, unknown>;

export function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

/** Feishu log ids look like `20240101120000` + hex; only their uniqueness matters here. */
export function newLogId(): string {
  return `0202${Date.now().toString(16)}${hex(8)}`;
}

export function ok(body: JsonObject, headers?: Record<string, string>): Reply {
  return { status: 200, body, headers };
}

/**
 * A Feishu API error: `{code, msg, error:{log_id}}` plus the `X-Tt-Logid` header, like the real gateway
 * (reference §4.3).
 */
export function feishuError(
  status: number,
  code: number,
  msg: string,
  extra?: { headers?: Record<string, string>; error?: JsonObject },
): Reply {
  const logId = newLogId();
  return {
    status,
    body: { code, msg, error: { log_id: logId, troubleshooter: troubleshooter(code), ...extra?.error } },
    headers: { "x-tt-logid": logId, ...extra?.headers },
  };
}

function troubleshooter(code: number): string {
  return `排查建议查看(Troubleshooting suggestions): https://open.feishu.cn/search?q=${code}`;
}

/** Missing/invalid body fields: the real API answers 99992402 with `field_violations`. */
export function fieldViolation(field: string, description: string): Reply {
  return feishuError(400, 99992402, "field validation failed", {
    error: { field_violations: [{ field, description }] },
  });
}

export function toResponse(reply: Reply): Response {
  const headers = new Headers(reply.headers);
  if (!headers.has("x-tt-logid")) headers.set("x-tt-logid", newLogId());
  if (typeof reply.body === "string") {
    if (!headers.has("content-type")) headers.set("content-type", "text/plain; charset=utf-8");
    return new Response(reply.body, { status: reply.status, headers });
  }
  if (reply.body === undefined || reply.body === null)
    return new Response(null, { status: reply.status, headers });
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(reply.body), { status: reply.status, headers });
}

export function replyCode(reply: Reply): number | undefined {
  if (reply.code !== undefined) return reply.code;
  const body = reply.body;
  if (body && typeof body === "object" && "code" in body && typeof body.code === "number") return body.code;
  return undefined;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses a JSON body; `undefined` means "not a JSON object". */
export function parseJsonObject(text: string): JsonObject | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function bearer(req: Request): string | undefined {
  const auth = req.headers.get("authorization");
  if (!auth) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return match ? match[1] : "";
}

/**
 * A list that tests can wait on: `waitFor` first scans what is already there, then resolves on the
 * first matching push. Event-driven, so tests never poll.
 */
export class WaitableList<T> {
  readonly items: T[] = [];
  private waiters = new Set<(item: T) => boolean>();

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter(item)) this.waiters.delete(waiter);
    }
  }

  clear(): void {
    this.items.length = 0;
  }

  waitFor(predicate: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const existing = this.items.find(predicate);
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise<T>((resolve, reject) => {
      const waiter = (item: T): boolean => {
        if (!predicate(item)) return false;
        clearTimeout(timer);
        resolve(item);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`fake feishu: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

/** State shared by the route modules of one fake instance. */
export interface FakeContext {
  appId: string;
  appSecret: string;
  botOpenId: string;
  botName: string;
  tenantKey: string;
  verificationToken: string;
  encryptKey: string;
  clock: () => number;
  /** message_id → chat/thread facts, filled by pushed events and accepted sends (for reply chat_id). */
  messages: Map<string, KnownMessage>;
}

export interface KnownMessage {
  chatId: string;
  rootId?: string;
  threadId?: string;
}

/** A stable per-user DM chat id, shared by event builders and the send endpoint. */
export function p2pChatId(openId: string): string {
  return `oc_p2p_${openId}`;
}
