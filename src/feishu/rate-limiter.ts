/**
 * Outgoing rate limits (feishu-reference.md §5.4): at most `appPerSecond` sends app-wide (and
 * `appPerMinute`, Feishu's 1000/min beside its 50/s) and at most `chatPerSecond` to one chat or user.
 *
 * Each limit is a sliding-window log: the times of the last N sends. That is Feishu's own
 * semantics ("5 per second to one chat") and what its gateway counts, whereas a token bucket with
 * burst B lets B + rate·1s through in one second and draws 429s. The window is a little longer than
 * a second (`marginMs`) so network jitter between our clock and Feishu's never tips a window over.
 *
 * Waiters are served first come, first served: per chat (the parts of a long reply, or a plugin's
 * consecutive sends, keep their order) and then app-wide. Pure logic: the clock and `sleep` are
 * injected, so tests run in virtual time. Idle chats are forgotten, so memory stays bounded.
 */

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
/** A guard against a broken `sleep`; real waits settle in one or two rounds. */
const MAX_WAIT_ROUNDS = 1000;

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

/**
 * A place in a FIFO queue: `ready` when everyone before is done. Whoever queues next waits for
 * `done` (the previous turn, then this one), so a turn abandoned early cannot let them overtake.
 */
function takeTurn(previous: Promise<void>) {
  let release!: () => void;
  const mine = new Promise<void>((r) => {
    release = r;
  });
  return { ready: previous, done: previous.then(() => mine), release };
}

/** `p`, or a rejection with the signal's reason as soon as it aborts. */
export function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
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

interface ChatState {
  log: WindowLog;
  /** Resolves when the previous waiter of this chat is done: FIFO per chat. */
  tail: Promise<void>;
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
  #appTail: Promise<void> = Promise.resolve();
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
  }

  /** Chats remembered right now (bounded by the idle eviction). */
  get chats(): number {
    return this.#chats.size;
  }

  /**
   * Resolves when one send to `key` (e.g. `chat:oc_…`, `user:ou_…`) may go, and counts it as sent.
   * An aborted `signal` rejects with its reason (shutdown must not wait out a long pause).
   */
  async acquire(key: string, signal?: AbortSignal): Promise<void> {
    const chat = this.#chat(key);
    chat.waiters++;
    const turn = takeTurn(chat.tail);
    chat.tail = turn.done;
    try {
      await untilAborted(turn.ready, signal);
      const t0 = this.#o.now();
      const chatHeld = await this.#waitFor(
        () => Math.max(chat.log.waitMs(this.#o.now()), chat.pausedUntil - this.#o.now()),
        signal,
      );
      const t1 = this.#o.now();
      await this.#acquireApp(signal);
      const now = this.#o.now();
      chat.log.record(now);
      chat.lastUsed = now;
      // Each delayed send counts once per reason: its chat's window (or 230020 pause) held it, or
      // the app-wide limit did (waiting in the app queue included).
      if (chatHeld) this.#o.onWait?.("chat", t1 - t0);
      if (now > t1) this.#o.onWait?.("app", now - t1);
    } finally {
      chat.waiters--;
      turn.release();
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

  async #acquireApp(signal?: AbortSignal): Promise<void> {
    const turn = takeTurn(this.#appTail);
    this.#appTail = turn.done;
    try {
      await untilAborted(turn.ready, signal);
      await this.#waitFor(() => {
        const now = this.#o.now();
        return Math.max(this.#second.waitMs(now), this.#minute.waitMs(now), this.#appPausedUntil - now);
      }, signal);
      const now = this.#o.now();
      this.#second.record(now);
      this.#minute.record(now);
    } finally {
      turn.release();
    }
  }

  /** Sleeps until `waitMs` says go; true when it had to sleep at all. */
  async #waitFor(waitMs: () => number, signal?: AbortSignal): Promise<boolean> {
    for (let round = 0; round < MAX_WAIT_ROUNDS; round++) {
      const ms = waitMs();
      if (ms <= 0) return round > 0;
      await untilAborted(this.#o.sleep(ms, signal), signal);
    }
    return true;
  }

  #chat(key: string): ChatState {
    let chat = this.#chats.get(key);
    if (!chat) {
      chat = {
        log: new WindowLog(this.#o.chatPerSecond, 1000 + this.#o.marginMs),
        tail: Promise.resolve(),
        waiters: 0,
        pausedUntil: 0,
        backoffMs: CHAT_BACKOFF_START_MS,
        lastUsed: this.#o.now(),
      };
      this.#chats.set(key, chat);
    }
    return chat;
  }
}
