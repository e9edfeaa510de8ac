/**
 * Outgoing rate limits (feishu-reference.md §5.4): at most `appPerSecond` sends app-wide (and
 * `appPerMinute`, Feishu's 1000/min beside its 50/s) and at most `chatPerSecond` to one chat or user.
 *
 * Each limit is a sliding-window log: the times of the last N sends. That is Feishu's own
 * semantics ("5 per second to one chat") and what its gateway counts, whereas a token bucket with
 * burst B lets B + rate·1s through in one second and draws 429s. The window is a little longer than
 * a second (`marginMs`) so network jitter between our clock and Feishu's never tips a window over.
 *
 * Waiters are served fairly: each acquire names its owner (the relay passes the user), and both
 * the chat's queue and the app-wide queue serve owners round-robin (fair-gate.ts), so one user's
 * backlog delays another user's send by a turn, not by the whole backlog. One owner's sends keep
 * their order (the parts of a long reply, a plugin's consecutive sends). Pure logic: the clock and
 * `sleep` are injected, so tests run in virtual time. Idle chats are forgotten, so memory stays
 * bounded.
 */

import { FairGate, type Release } from "./fair-gate.ts";

export interface RateLimiterOptions {
  appPerSecond: number;
  chatPerSecond: number;
  /** Default 20 × appPerSecond (1000/min at the default 50/s). `Infinity` turns a limit off. */
  appPerMinute?: number;
  now?: () => number;
  /** Default: a timer that an aborted signal cancels. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Added to each window to absorb network jitter (default 50 ms). */
  marginMs?: number;
  /** A chat unused this long is forgotten (default 60 s). */
  idleMs?: number;
  /** Called for an acquire that was delayed, once per reason, with the delay (metrics). */
  onWait?: (kind: "app" | "chat", ms: number) => void;
}

/** 230020 back-off for one chat: 1 s, doubling up to 30 s, reset by a success. */
export const CHAT_BACKOFF_START_MS = 1000;
export const CHAT_BACKOFF_MAX_MS = 30_000;
const SWEEP_EVERY = 256;

/** The last `limit` event times in a ring; the next event is free once the oldest leaves the window. */
export class WindowLog {
  readonly #times: number[];
  #next = 0;
  #count = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.#times = Number.isFinite(limit) && limit > 0 ? new Array<number>(limit).fill(0) : [];
  }

  get off(): boolean {
    return this.#times.length === 0;
  }

  /** Milliseconds until one more event fits; 0 when it fits now. */
  waitMs(now: number): number {
    if (this.off || this.#count < this.limit) return 0;
    return Math.max(0, this.#times[this.#next]! + this.windowMs - now);
  }

  record(now: number): void {
    if (this.off) return;
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % this.limit;
    this.#count = Math.min(this.#count + 1, this.limit);
  }
}

/** `p`, or a rejection with the signal's reason as soon as it aborts. */
export function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    // Nobody waits for `p` any more; its own failure (e.g. "sender closing") must not go unhandled.
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A sleep whose timer an aborted signal clears (so shutdown is not held by a long pause). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * M2-3: the Feishu API family a call spends. Each has its own app-wide budget (`appPerSecond`,
 * `appPerMinute`): Feishu limits each API to 50/s and 1000/min per app (feishu-reference.md §5.4, §11).
 * - `message`: send / reply (per-key limit: the chat's `chatPerSecond`);
 * - `card`: CardKit create / content / element / settings (per-key limit: 10/s per card entity);
 * - `reaction`: add / remove a reaction (no per-key limit);
 * - `upload`: im/v1/images, im/v1/files (no per-key limit).
 */
export type CallKind = "message" | "card" | "reaction" | "upload";

/**
 * M2-3: who goes first when a budget is short: final replies (and their uploads), then streaming card
 * updates, then reactions. Lower priorities may not use the last part of a window (kept for finals).
 */
export type CallPriority = "final" | "update" | "reaction";

export interface AcquireOptions {
  /** Default `message`. */
  kind?: CallKind;
  /** Default `final`. */
  priority?: CallPriority;
  /** Who the call is for (the relay's user): owners share each budget round-robin. Default: the key. */
  owner?: string;
  /** Aborting rejects with its reason (shutdown must not wait out a long pause). */
  signal?: AbortSignal;
}

interface ChatState {
  log: WindowLog;
  /** One waiter of this chat at a time goes on to the app-wide gate, owners in turn. */
  gate: FairGate;
  waiters: number;
  pausedUntil: number;
  backoffMs: number;
  lastUsed: number;
}

export class SendRateLimiter {
  readonly #o: Required<Omit<RateLimiterOptions, "onWait">> & Pick<RateLimiterOptions, "onWait">;
  readonly #second: WindowLog;
  readonly #minute: WindowLog;
  readonly #chats = new Map<string, ChatState>();
  readonly #app: FairGate;
  #appPausedUntil = 0;
  #sinceSweep = 0;

  constructor(opts: RateLimiterOptions) {
    this.#o = {
      ...opts,
      appPerMinute: opts.appPerMinute ?? opts.appPerSecond * 20,
      now: opts.now ?? Date.now,
      sleep: opts.sleep ?? abortableSleep,
      marginMs: opts.marginMs ?? 50,
      idleMs: opts.idleMs ?? 60_000,
    };
    this.#second = new WindowLog(this.#o.appPerSecond, 1000 + this.#o.marginMs);
    this.#minute = new WindowLog(this.#o.appPerMinute, 60_000 + this.#o.marginMs);
    this.#app = new FairGate(() => {
      const now = this.#o.now();
      return Math.max(this.#second.waitMs(now), this.#minute.waitMs(now), this.#appPausedUntil - now);
    }, this.#o.sleep);
  }

  /** Chats remembered right now (bounded by the idle eviction). */
  get chats(): number {
    return this.#chats.size;
  }

  /**
   * Resolves when one send to `key` (e.g. `chat:oc_…`, `user:ou_…`) may go, and counts it as sent.
   * `owner` is who the send is for (the relay's user): the budget is shared round-robin between
   * owners. Without one, each chat is its own owner. An aborted `signal` rejects with its reason
   * (shutdown must not wait out a long pause).
   */
  async acquire(key: string, opts: AcquireOptions = {}): Promise<void> {
    const { signal, owner = key } = opts;
    const chat = this.#chat(key);
    chat.waiters++;
    let releaseChat: Release | undefined;
    try {
      const t0 = this.#o.now();
      releaseChat = await chat.gate.pass(owner, signal);
      const t1 = this.#o.now();
      const releaseApp = await this.#app.pass(owner, signal);
      const now = this.#o.now();
      this.#second.record(now);
      this.#minute.record(now);
      releaseApp();
      chat.log.record(now);
      chat.lastUsed = now;
      // Each delayed send counts once per reason: its chat held it (window, 230020 pause or the
      // chat's queue), or the app-wide limit did (waiting in the app queue included).
      if (t1 > t0) this.#o.onWait?.("chat", t1 - t0);
      if (now > t1) this.#o.onWait?.("app", now - t1);
    } finally {
      releaseChat?.();
      chat.waiters--;
      if (++this.#sinceSweep >= SWEEP_EVERY) this.sweep();
    }
  }

  /** The platform throttled us (429 / 99991400): nobody sends for `ms`. */
  pauseApp(ms: number): void {
    this.#appPausedUntil = Math.max(this.#appPausedUntil, this.#o.now() + ms);
  }

  /** Feishu answered 230020 for this chat: pause it (1 s, doubling); returns the pause in ms. */
  backOffChat(key: string): number {
    const chat = this.#chat(key);
    const ms = chat.backoffMs;
    chat.pausedUntil = Math.max(chat.pausedUntil, this.#o.now() + ms);
    chat.backoffMs = Math.min(CHAT_BACKOFF_MAX_MS, ms * 2);
    return ms;
  }

  /** A send to this chat went through: its back-off starts over. */
  chatSucceeded(key: string): void {
    const chat = this.#chats.get(key);
    if (chat) chat.backoffMs = CHAT_BACKOFF_START_MS;
  }

  /** Forgets chats nobody waits for, idle for `idleMs` and not paused. Runs every few acquires. */
  sweep(): void {
    this.#sinceSweep = 0;
    const now = this.#o.now();
    for (const [key, chat] of this.#chats) {
      if (chat.waiters === 0 && now - chat.lastUsed >= this.#o.idleMs && chat.pausedUntil <= now) {
        this.#chats.delete(key);
      }
    }
  }

  #chat(key: string): ChatState {
    let chat = this.#chats.get(key);
    if (!chat) {
      const log = new WindowLog(this.#o.chatPerSecond, 1000 + this.#o.marginMs);
      const state: ChatState = {
        log,
        gate: new FairGate(() => {
          const now = this.#o.now();
          return Math.max(log.waitMs(now), state.pausedUntil - now);
        }, this.#o.sleep),
        waiters: 0,
        pausedUntil: 0,
        backoffMs: CHAT_BACKOFF_START_MS,
        lastUsed: this.#o.now(),
      };
      chat = state;
      this.#chats.set(key, chat);
    }
    return chat;
  }
}
