/**
 * One live plugin connection and its delivery cursor. Delivery always reads the inbox from the last
 * seq sent, so the replay after a (re)connect and live messages share one path and can never go out
 * of seq order or skip one. A slow reader pauses the pump (bounded socket buffer) and resumes on drain;
 * the messages wait in SQLite, not in memory.
 */
import type { Inbox, StoredMessage } from "./inbox.ts";
import type { InboundMessage, LegacyFeishuMessageFrame, ServerFrame } from "./protocol.ts";

/** The part of a Bun ServerWebSocket we use; tests can pass their own. */
export interface SocketLike {
  send(data: string): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
}

export interface ConnectionUser {
  id: number;
  openId: string;
  name: string;
}

/** Pause sending above this many buffered bytes; resume on drain. */
export const PAUSE_BUFFERED_BYTES = 1024 * 1024;
const BATCH = 200;

export interface DeliveryHooks {
  /** Called per frame sent, for metrics (webhook → plugin latency). */
  delivered(m: StoredMessage): void;
}

export class PluginConnection {
  /** Highest seq written to this socket. */
  #lastSent: number;
  #paused = false;
  #closed = false;

  constructor(
    readonly socket: SocketLike,
    readonly user: ConnectionUser,
    readonly sessionId: string,
    readonly legacy: boolean,
    private readonly inbox: Inbox,
    private readonly hooks: DeliveryHooks,
    ackedSeq: number,
  ) {
    this.#lastSent = ackedSeq;
  }

  get lastSentSeq(): number {
    return this.#lastSent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(frame: ServerFrame | Record<string, unknown>): void {
    if (!this.#closed) this.socket.send(JSON.stringify(frame));
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close(code, reason);
  }

  markClosed(): void {
    this.#closed = true;
  }

  /** Sends every stored message after the cursor, oldest first, until caught up or backpressured. */
  pump(): void {
    if (this.#closed || this.#paused) return;
    for (;;) {
      const batch = this.inbox.pending(this.user.id, this.#lastSent, BATCH);
      for (const m of batch) {
        this.socket.send(
          JSON.stringify(
            this.legacy ? legacyFrame(m.message) : { type: "message", seq: m.seq, ...m.message },
          ),
        );
        this.#lastSent = m.seq;
        this.hooks.delivered(m);
        // Legacy plugins never ack: their frames count as done once written.
        if (this.legacy) this.inbox.ack(this.user.id, m.seq);
        if (this.socket.getBufferedAmount() > PAUSE_BUFFERED_BYTES) {
          this.#paused = true;
          return;
        }
      }
      if (batch.length < BATCH) return;
    }
  }

  /** The socket drained its buffer: carry on where the pump paused. */
  drained(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.pump();
  }

  /** Cumulative ack; never past what this connection was actually sent. */
  ack(seq: number): number {
    return this.inbox.ack(this.user.id, Math.min(seq, this.#lastSent));
  }
}

export function legacyFrame(m: InboundMessage): LegacyFeishuMessageFrame {
  return {
    type: "feishu_message",
    content: m.text,
    messageId: m.messageId,
    chatType: m.chatType,
    chatId: m.chatId,
    senderId: m.sender.openId,
    timestamp: m.createTime,
  };
}
