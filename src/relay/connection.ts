/**
 * One live plugin connection and its delivery cursor. Delivery always reads the inbox from the last
 * seq sent, so the replay after a (re)connect and live messages share one path and can never go out
 * of seq order or skip one. A slow reader pauses the pump as soon as Bun reports backpressure and
 * resumes on drain; the messages wait in SQLite, not in memory.
 *
 * Live messages of a caught-up connection go out through the user's topic (`user:<id>`, Bun's
 * pub/sub; the hub subscribes the socket): the frame committed on this node is published from memory.
 * Anything else — the replay, a gap, a pause, a wake-up from another node — is read from the inbox and
 * sent on the socket itself. Either way the cursor moves only for frames Bun accepted, so the seq/ack
 * bookkeeping is the same on both paths.
 */
import type { Inbox, StoredMessage } from "./inbox.ts";
import type { InboundMessage, LegacyFeishuMessageFrame, ServerFrame } from "./protocol.ts";

/** The part of a Bun ServerWebSocket we use; tests can pass their own. */
export interface SocketLike {
  /** Bun semantics: bytes written, -1 queued behind backpressure, 0 dropped. */
  send(data: string): number;
  close(code?: number, reason?: string): void;
  /** Bun: sends inside the callback leave in one write instead of one syscall per frame. */
  cork?<T>(callback: () => T): T;
  /** Bun pub/sub: false when the socket is closed. */
  subscribe?(topic: string): boolean;
  unsubscribe?(topic: string): void;
}

/** The server's `publish` (Bun: bytes written, -1 backpressure, 0 dropped or nobody subscribed). */
export interface TopicPublisher {
  publish(topic: string, data: string): number;
}

export interface ConnectionUser {
  id: number;
  openId: string;
  name: string;
  /** The `ver` of the token this socket authenticated with; a revocation bumps the user's version. */
  tokenVersion: number;
}

const BATCH = 200;

/** After a failed read of the inbox (PostgreSQL away), the pump tries again this much later. */
export const READ_RETRY_MS = 1000;

export interface DeliveryHooks {
  /** Called per frame sent, for metrics (webhook → plugin latency). */
  delivered(m: StoredMessage): void;
  /** A read of the inbox failed (PostgreSQL unreachable): logged; the next wake-up reads again. */
  readFailed?(err: unknown): void;
}

export class PluginConnection {
  /** Highest seq written to this socket. */
  #lastSent: number;
  #paused = false;
  /** Shutdown: nothing more is sent, so the acks of what was sent can still come in (see Hub.drain). */
  #held = false;
  /** Highest seq the plugin acked on this connection. */
  #lastAcked: number;
  #closed = false;
  /** The topic this socket is subscribed to, once the hub registered it. */
  #topic: string | undefined;
  /** A read of the inbox under way (PostgreSQL); pumps asked for meanwhile run after it. */
  #reading = false;
  #pumpAgain = false;

  constructor(
    readonly socket: SocketLike,
    readonly user: ConnectionUser,
    readonly sessionId: string,
    readonly legacy: boolean,
    private readonly inbox: Inbox,
    private readonly hooks: DeliveryHooks,
    ackedSeq: number,
    private readonly topics?: TopicPublisher,
  ) {
    this.#lastSent = ackedSeq;
    this.#lastAcked = ackedSeq;
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
    // A closing socket must not take the next connection's frames from the topic.
    this.#unsubscribe();
    this.socket.close(code, reason);
  }

  markClosed(): void {
    this.#closed = true;
    this.#topic = undefined;
  }

  /** Joins the user's topic; live frames then go out through it (see `deliverLive`). */
  subscribe(topic: string): void {
    if (this.#closed || !this.topics || !this.socket.subscribe) return;
    if (this.socket.subscribe(topic)) this.#topic = topic;
  }

  #unsubscribe(): void {
    const topic = this.#topic;
    this.#topic = undefined;
    if (topic) this.socket.unsubscribe?.(topic);
  }

  /**
   * Sends every stored message after the cursor, oldest first, until caught up or backpressured.
   * SQLite reads synchronously (the hot path stays one loop); a PostgreSQL read is awaited, one at a
   * time per connection, and a pump asked for meanwhile reads again after it.
   */
  pump(): void {
    if (this.#closed || this.#paused || this.#held) return;
    if (this.#reading) {
      this.#pumpAgain = true;
      return;
    }
    for (;;) {
      const batch = this.inbox.pending(this.user.id, this.#lastSent, BATCH);
      if (batch instanceof Promise) {
        this.#reading = true;
        batch.then(
          (rows) => this.#afterRead(rows),
          (err) => this.#readFailed(err),
        );
        return;
      }
      if (!this.#writeBatch(batch)) return;
    }
  }

  /** Writes a batch read from the inbox; true when the pump should read on (a full batch, all written). */
  #writeBatch(batch: StoredMessage[], full = batch.length === BATCH): boolean {
    let more = full;
    this.#corked(() => {
      for (const m of batch) {
        if (this.#closed || !this.#write(m)) {
          more = false;
          return;
        }
      }
    });
    return more && !this.#closed && !this.#paused;
  }

  #afterRead(batch: StoredMessage[]): void {
    this.#reading = false;
    // Live deliveries wait while a read is under way (`deliverLive`), so the cursor has not moved;
    // the filter only guards the order. (Seqs may jump: the offline cap drops the oldest rows.)
    const more = this.#writeBatch(
      batch.filter((m) => m.seq > this.#lastSent),
      batch.length === BATCH,
    );
    if (more || this.#pumpAgain) {
      this.#pumpAgain = false;
      this.pump();
    }
  }

  /** A failed read (the database away) is tried again a little later; a new commit wakes it too. */
  #readFailed(err: unknown): void {
    this.#reading = false;
    this.#pumpAgain = false;
    this.hooks.readFailed?.(err);
    setTimeout(() => this.pump(), READ_RETRY_MS).unref?.();
  }

  /**
   * Live messages just committed for this user: written straight from memory when the connection is
   * caught up; any gap (a replay still running, a pause) falls back to the inbox read, which keeps order.
   */
  deliverLive(stored: StoredMessage[]): void {
    this.#corked(() => {
      for (const m of stored) {
        if (this.#closed || this.#paused || this.#held || this.#reading || m.seq !== this.#lastSent + 1) {
          this.pump();
          return;
        }
        if (!this.#write(m, true)) return;
      }
    });
  }

  #corked(fn: () => void): void {
    if (this.socket.cork && !this.#closed) this.socket.cork(fn);
    else fn();
  }

  /**
   * Writes one message; false when the socket is backpressured and the pump must wait for `drain`.
   * Bun's send answers -1 when the frame was queued behind backpressure and 0 when it was dropped:
   * a dropped frame is not counted as sent, so the next pump re-reads it from the inbox.
   */
  #write(m: StoredMessage, live = false): boolean {
    const frame = this.legacy ? JSON.stringify(legacyFrame(m.message)) : messageFrameJson(m.seq, m.payload);
    // One subscriber per topic on a node, so publish answers for this socket alone, like send.
    const status =
      live && this.#topic && this.topics ? this.topics.publish(this.#topic, frame) : this.socket.send(frame);
    if (status === 0) {
      this.#paused = true;
      return false;
    }
    this.#lastSent = m.seq;
    this.hooks.delivered(m);
    // Legacy plugins never ack: their frames count as done once written.
    if (this.legacy) this.inbox.ack(this.user.id, m.seq);
    // -1: queued behind backpressure; Bun fires `drain` once it clears, so pausing here is safe.
    // (Pausing on getBufferedAmount alone could wait for a drain that never comes.)
    if (status < 0) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  /** The socket drained its buffer: carry on where the pump paused. */
  drained(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.pump();
  }

  /** Cumulative ack; never past what this connection was actually sent. */
  ack(seq: number): void {
    const upTo = Math.min(seq, this.#lastSent);
    if (upTo > this.#lastAcked) this.#lastAcked = upTo;
    this.inbox.ack(this.user.id, upTo);
  }

  /** Stops sending (shutdown); what was sent may still be acked. */
  hold(): void {
    this.#held = true;
  }

  /** Every frame sent was acked (legacy frames count as acked once written). */
  get settled(): boolean {
    return this.legacy || this.#closed || this.#lastAcked >= this.#lastSent;
  }
}

/**
 * `{"type":"message","seq":N, …message}` from the stored JSON of the message, which is what
 * `JSON.stringify({ type: "message", seq, ...message })` gives, minus a second serialisation per frame.
 */
export function messageFrameJson(seq: number, payload: string): string {
  const head = `{"type":"message","seq":${seq}`;
  return payload === "{}" ? `${head}}` : `${head},${payload.slice(1)}`;
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
