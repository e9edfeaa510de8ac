/**
 * M2-4: gives a stored message what the agent needs to understand it, between the commit and the
 * delivery (the inbox holds it meanwhile, inbox.ts `ContextSource`): the message it quotes
 * (`parentId` → `quoted`), a forwarded chat's messages (`merge_forward` → `forwarded`, its `text`
 * then a one-line summary), the group's name (`chatName`) and the sender's name when the relay does
 * not know the sender (members of bound groups). Everything runs in parallel and within one
 * deadline (FEISHU_CONTEXT_TIMEOUT); what has not arrived by then is left out. Feishu's push is
 * answered by then anyway: ingest resolves after the commit, not after this.
 *
 * Failures never block a message. Missing scopes (230027: `im:message.group_msg` for group
 * messages; contact or chat scopes) are logged once per lookup and code, not per message.
 */
import { FeishuApiError } from "../feishu/api-error.ts";
import type { ChatInfo } from "../feishu/chat-info.ts";
import {
  forwardRoot,
  forwardSummary,
  type MessageItem,
  toContextMessage,
  toForwarded,
} from "../feishu/message-context.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { ContextSource } from "./inbox.ts";
import type { ContextMessage, InboundMessage } from "./protocol.ts";

/** Names of forwarded messages' senders looked up per message at most (each a contact call). */
const MAX_NAME_LOOKUPS = 10;

export interface ContextEnricherDeps {
  /** GET im/v1/messages/:id (feishu/message-lookup.ts). */
  message(messageId: string, opts: { owner: string; signal: AbortSignal }): Promise<MessageItem[]>;
  chats: Pick<ChatInfo, "cachedName" | "isFresh" | "name">;
  /** A user's display name (feishu/directory.ts, cached there); rejects when it cannot be had. */
  userName(openId: string): Promise<string>;
  timeoutMs: number;
  /** How long a looked-up sender name is reused (also when there was none). */
  nameTtlMs: number;
  log: Logger;
  metrics: Registry;
  /** Quoted and forwarded media get `<publicUrl>/api/media/<id>` like the message's own. */
  publicUrl?: string;
  now?: () => number;
  /** Runs `fn` after `ms`; returns a cancel. Default: setTimeout. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

type Patch = Partial<Pick<InboundMessage, "quoted" | "forwarded" | "chatName" | "text" | "sender">>;

export class ContextEnricher implements ContextSource {
  readonly #d: ContextEnricherDeps;
  readonly #now: () => number;
  readonly #names = new Map<string, { name: string; at: number }>();
  /** `lookup:code` pairs already logged: a missing scope is said once, not per message. */
  readonly #logged = new Set<string>();
  readonly #outcomes;

  constructor(deps: ContextEnricherDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#outcomes = deps.metrics.counter(
      "message_context_total",
      "Messages held for their context, by outcome (filled: context added, empty: none to be had, timeout).",
    );
  }

  prefill(message: InboundMessage): void {
    if (message.chatType === "group" && message.chatName === undefined) {
      const name = this.#d.chats.cachedName(message.chatId);
      if (name) message.chatName = name;
    }
    if (!message.sender.name && message.sender.openId) {
      const name = this.#cachedName(message.sender.openId);
      if (name) message.sender = { ...message.sender, name };
    }
  }

  wants(message: InboundMessage): boolean {
    return (
      (message.parentId !== undefined && message.quoted === undefined) ||
      (message.msgType === "merge_forward" && message.forwarded === undefined) ||
      (message.chatType === "group" &&
        message.chatName === undefined &&
        !this.#d.chats.isFresh(message.chatId)) ||
      (!message.sender.name && message.sender.openId !== "" && !this.#nameKnown(message.sender.openId))
    );
  }

  async enrich(message: InboundMessage, userId: number): Promise<InboundMessage | undefined> {
    const abort = new AbortController();
    const owner = String(userId);
    const patch: Patch = {};
    const parts: Array<Promise<void>> = [];
    const run = (what: string, work: () => Promise<void>) =>
      parts.push(
        work().catch((err) => {
          // Cut off at the deadline: already counted as a timeout, not a failure of the lookup.
          if (!abort.signal.aborted) this.#failed(what, message.messageId, err);
        }),
      );
    if (message.parentId && !message.quoted) {
      const parentId = message.parentId;
      run("quoted", async () => {
        const quoted = await this.#quoted(parentId, owner, abort.signal);
        if (quoted) patch.quoted = quoted;
      });
    }
    if (message.msgType === "merge_forward" && !message.forwarded) {
      run("forwarded", async () => {
        Object.assign(patch, await this.#forwarded(message, owner, abort.signal));
      });
    }
    if (message.chatType === "group" && message.chatName === undefined) {
      run("chat", async () => {
        const name = await this.#d.chats.name(message.chatId, abort.signal);
        if (name) patch.chatName = name;
      });
    }
    if (!message.sender.name && message.sender.openId) {
      run("sender", async () => {
        const name = await this.#name(message.sender.openId);
        if (name) patch.sender = { ...message.sender, name };
      });
    }
    const all = Promise.all(parts).then(() => "complete" as const);
    let cancel = () => {};
    const deadline = new Promise<"timeout">((resolve) => {
      cancel = (this.#d.setTimer ?? defaultTimer)(() => resolve("timeout"), this.#d.timeoutMs);
    });
    const outcome = await Promise.race([all, deadline]);
    cancel();
    // Lookups still running are dropped: their answer would come too late for this message.
    abort.abort(new Error("context deadline passed"));
    const changed = Object.keys(patch).length > 0;
    this.#outcomes.inc({ outcome: outcome === "timeout" ? "timeout" : changed ? "filled" : "empty" });
    if (outcome === "timeout") {
      this.#d.log.info("message_context_timeout", { userId, messageId: message.messageId });
    }
    return changed ? { ...message, ...patch } : undefined;
  }

  async #quoted(parentId: string, owner: string, signal: AbortSignal): Promise<ContextMessage | undefined> {
    const items = await this.#d.message(parentId, { owner, signal });
    const item = items.find((i) => i.message_id === parentId) ?? items[0];
    const quoted = item && toContextMessage(item, this.#d.publicUrl);
    if (!quoted) return undefined;
    if (quoted.msgType === "merge_forward") {
      quoted.text = forwardSummary(items.filter((i) => i.upper_message_id === parentId).length);
    }
    const name = quoted.senderOpenId ? await this.#name(quoted.senderOpenId) : undefined;
    return name ? { ...quoted, senderName: name } : quoted;
  }

  async #forwarded(message: InboundMessage, owner: string, signal: AbortSignal): Promise<Patch> {
    const items = await this.#d.message(message.messageId, { owner, signal });
    const rootId = String(forwardRoot(items, message.messageId)?.message_id ?? message.messageId);
    const { forwarded, total } = toForwarded(items, rootId, this.#d.publicUrl);
    const senders = [...new Set(forwarded.messages.flatMap((m) => (m.senderOpenId ? [m.senderOpenId] : [])))];
    const names = new Map<string, string>();
    await Promise.all(
      senders.slice(0, MAX_NAME_LOOKUPS).map(async (openId) => {
        const name = await this.#name(openId);
        if (name) names.set(openId, name);
      }),
    );
    for (const m of forwarded.messages) {
      const name = m.senderOpenId && names.get(m.senderOpenId);
      if (name) m.senderName = name;
    }
    return { forwarded, text: forwardSummary(total) };
  }

  /** A user's name, cached here for `nameTtlMs` (also "none": a sender outside the contact range). */
  async #name(openId: string): Promise<string | undefined> {
    const hit = this.#names.get(openId);
    if (hit && this.#now() - hit.at < this.#d.nameTtlMs) return hit.name || undefined;
    let name = "";
    try {
      name = await this.#d.userName(openId);
    } catch (err) {
      this.#failed("contact", openId, err);
    }
    this.#names.delete(openId);
    this.#names.set(openId, { name, at: this.#now() });
    if (this.#names.size > 10_000) this.#names.delete(this.#names.keys().next().value!);
    return name || undefined;
  }

  /** A fresh answer is cached (a name, or "none"). */
  #nameKnown(openId: string): boolean {
    const hit = this.#names.get(openId);
    return hit !== undefined && this.#now() - hit.at < this.#d.nameTtlMs;
  }

  #cachedName(openId: string): string | undefined {
    const hit = this.#names.get(openId);
    return hit && this.#now() - hit.at < this.#d.nameTtlMs && hit.name ? hit.name : undefined;
  }

  #failed(what: string, id: string, err: unknown): void {
    const code = err instanceof FeishuApiError ? err.code : "error";
    const key = `${what}:${code}`;
    const fields = err instanceof FeishuApiError ? err.toLog() : { err: err as Error };
    if (this.#logged.has(key)) {
      this.#d.log.debug("message_context_unavailable", { lookup: what, id, ...fields });
      return;
    }
    this.#logged.add(key);
    this.#d.log.warn("message_context_unavailable", { lookup: what, id, ...fields, once: true });
  }
}

function defaultTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
}
