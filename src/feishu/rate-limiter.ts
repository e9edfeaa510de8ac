/**
 * Outgoing rate limits (feishu-reference.md §5.4): per API family (`CallKind`), at most
 * `appPerSecond` calls app-wide (and `appPerMinute`, Feishu's 1000/min beside its 50/s); per key,
 * at most `chatPerSecond` sends to one chat or user and `cardPerSecond` updates of one card.
 * Feishu counts each API on its own, so each kind has its own windows and its own 429 pause: a
 * throttled card update must not hold up sends.
 *
 * Priorities (M2-3): inside one kind, final replies go before streaming updates, which go before
 * reactions, and the lower two may fill only part of each window (`updateShare`, `reactionShare`),
 * so a final never finds the window spent by drafts.
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
 *
 * Cluster mode (M2-6): with a `shared` budget (PostgreSQL, shared-budget.ts) the app-wide windows
 * and each chat's window also hold for the whole cluster. This limiter stays the first gate; a call
 * it lets through then takes its unit from the shared budget (the chat's while it holds its chat's
 * turn, the app's while it holds the app gate), waiting there when other nodes spent the window.
 * Cards are updated by the node that streams them, so their per-card limit stays local.
 */

import { FairGate, type Release } from "./fair-gate.ts";
import type { BudgetLimit, SharedBudget } from "./shared-budget.ts";

export interface RateLimiterOptions {
  /** Per kind: each API family has its own app-wide windows. */
  appPerSecond: number;
  chatPerSecond: number;
  /** Default 20 × appPerSecond (1000/min at the default 50/s). `Infinity` turns a limit off. */
  appPerMinute?: number;
  /** CardKit: calls per second on one card entity (default 10, reference §11.5). */
  cardPerSecond?: number;
  /** The part of each app-wide window `update` calls may fill (default 0.8). */
  updateShare?: number;
  /** The part of each app-wide window `reaction` calls may fill (default 0.6). */
  reactionShare?: number;
  now?: () => number;
  /** Default: a timer that an aborted signal cancels. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Added to each window to absorb network jitter (default 50 ms). */
  marginMs?: number;
  /** A chat unused this long is forgotten (default 60 s). */
  idleMs?: number;
  /**
   * Called for an acquire that was delayed, once per reason, with the delay (metrics): its key held
   * it (`chat`: the chat's or card's window, a 230020 pause or the key's queue) or its kind's
   * app-wide budget did (`app`).
   */
  onWait?: (reason: "app" | "chat", ms: number, call: CallInfo) => void;
  /** Called once per throttled call: a wait for the budget, or a 429 reported by `pauseApp`. */
  onThrottled?: (call: CallInfo, cause: "wait" | "429") => void;
  /** Cluster mode: the budgets every node takes from (PostgreSQL). */
  shared?: SharedBudget;
  /**
   * The shared budget could not be reached: the call goes on under this node's own limits (a 429
   * from Feishu then pauses the kind as usual) rather than stalling every send on a database error.
   */
  onSharedError?: (err: unknown) => void;
}

export interface CallInfo {
  kind: CallKind;
  priority: CallPriority;
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

  /**
   * Milliseconds until one more event fits while at most `cap` (default: all) of the window may be
   * used; 0 when it fits now.
   */
  waitMs(now: number, cap = this.limit): number {
    if (this.off) return 0;
    const c = Math.max(1, Math.min(this.limit, Math.floor(cap)));
    if (this.#count < c) return 0;
    // The c-th most recent event must leave the window first.
    const oldest = this.#times[(this.#next - c + this.limit) % this.limit]!;
    return Math.max(0, oldest + this.windowMs - now);
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
 * - `upload`: im/v1/images, im/v1/files (no per-key limit);
 * - `read`: M2-4 context lookups, im/v1/messages/:id and im/v1/chats/:id (no per-key limit).
 */
export type CallKind = "message" | "card" | "reaction" | "upload" | "read";

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

/** Gate ranks: 0 passes first. */
const RANK: Record<CallPriority, number> = { final: 0, update: 1, reaction: 2 };
const KINDS: CallKind[] = ["message", "card", "reaction", "upload", "read"];

/** One API family's app-wide budget: its windows, its 429 pause and its priority gate. */
interface KindBudget {
  second: WindowLog;
  minute: WindowLog;
  pausedUntil: number;
  gate: FairGate;
}

/** One chat (message) or card: its own window; `message` keys also take 230020 back-offs. */
interface KeyState {
  log: WindowLog;
  /** One waiter of this key at a time goes on to the app-wide gate, by priority, owners in turn. */
  gate: FairGate;
  waiters: number;
  pausedUntil: number;
  backoffMs: number;
  lastUsed: number;
}

type Resolved = Required<Omit<RateLimiterOptions, "onWait" | "onThrottled" | "shared" | "onSharedError">> &
  Pick<RateLimiterOptions, "onWait" | "onThrottled" | "shared" | "onSharedError">;

export class SendRateLimiter {
  readonly #o: Resolved;
  readonly #budgets: Record<CallKind, KindBudget>;
  readonly #keys = new Map<string, KeyState>();
  /** Share of a window each rank may fill. */
  readonly #shares: number[];
  #sinceSweep = 0;

  constructor(opts: RateLimiterOptions) {
    this.#o = {
      ...opts,
      appPerMinute: opts.appPerMinute ?? opts.appPerSecond * 20,
      cardPerSecond: opts.cardPerSecond ?? 10,
      updateShare: opts.updateShare ?? 0.8,
      reactionShare: opts.reactionShare ?? 0.6,
      now: opts.now ?? Date.now,
      sleep: opts.sleep ?? abortableSleep,
      marginMs: opts.marginMs ?? 50,
      idleMs: opts.idleMs ?? 60_000,
    };
    this.#shares = [1, this.#o.updateShare, this.#o.reactionShare];
    this.#budgets = Object.fromEntries(KINDS.map((k) => [k, this.#budget()])) as Record<CallKind, KindBudget>;
  }

  /** Chats and cards remembered right now (bounded by the idle eviction). */
  get chats(): number {
    return this.#keys.size;
  }

  /**
   * Resolves when one call of `kind` (default `message`) for `key` may go, and counts it. Keys:
   * `chat:oc_…` / `user:ou_…` for messages, `card:<card_id>` for cards; reactions and uploads have
   * no per-key limit and their key is ignored. `owner` is who the call is for (the relay's user):
   * the budget is shared round-robin between owners. Without one, each key is its own owner. An
   * aborted `signal` rejects with its reason (shutdown must not wait out a long pause).
   */
  async acquire(key: string, opts: AcquireOptions = {}): Promise<void> {
    const { signal, owner = key, kind = "message", priority = "final" } = opts;
    const call: CallInfo = { kind, priority };
    const rank = RANK[priority] ?? 0;
    const state = kind === "message" || kind === "card" ? this.#key(kind, key) : undefined;
    const budget = this.#budgets[kind] ?? this.#budgets.message;
    if (state) state.waiters++;
    let releaseKey: Release | undefined;
    try {
      const t0 = this.#o.now();
      const sleeps0 = (state?.gate.sleeps ?? 0) + budget.gate.sleeps;
      let sharedWaits = 0;
      if (state) {
        releaseKey = await state.gate.pass(owner, signal, rank);
        if (kind === "message") sharedWaits += await this.#takeShared([this.#chatLimit(key)], signal);
      }
      const t1 = this.#o.now();
      const releaseApp = await budget.gate.pass(owner, signal, rank);
      let now: number;
      try {
        sharedWaits += await this.#takeShared(this.#appLimits(kind, rank), signal);
        now = this.#o.now();
        budget.second.record(now);
        budget.minute.record(now);
      } finally {
        releaseApp();
      }
      if (state) {
        state.log.record(now);
        state.lastUsed = now;
      }
      // Each delayed call counts once per reason: its key held it (window, 230020 pause or the
      // key's queue), or its kind's app-wide budget did (waiting in the app queue included).
      if (t1 > t0) this.#o.onWait?.("chat", t1 - t0, call);
      if (now > t1) this.#o.onWait?.("app", now - t1, call);
      // Held back = a gate slept for the limit while this call waited (not a clock tick in between).
      if ((state?.gate.sleeps ?? 0) + budget.gate.sleeps > sleeps0 || sharedWaits > 0)
        this.#o.onThrottled?.(call, "wait");
    } finally {
      releaseKey?.();
      if (state) state.waiters--;
      if (++this.#sinceSweep >= SWEEP_EVERY) this.sweep();
    }
  }

  /**
   * The platform throttled a call of `kind` (429 / 99991400): no call of that kind goes for `ms`.
   * Feishu limits each API on its own, so other kinds carry on.
   */
  pauseApp(ms: number, kind: CallKind = "message", priority: CallPriority = "final"): void {
    const budget = this.#budgets[kind] ?? this.#budgets.message;
    budget.pausedUntil = Math.max(budget.pausedUntil, this.#o.now() + ms);
    this.#o.onThrottled?.({ kind, priority }, "429");
  }

  /** Feishu answered 230020 for this chat: pause it (1 s, doubling); returns the pause in ms. */
  backOffChat(key: string, priority: CallPriority = "final"): number {
    this.#o.onThrottled?.({ kind: "message", priority }, "429");
    const chat = this.#key("message", key);
    const ms = chat.backoffMs;
    chat.pausedUntil = Math.max(chat.pausedUntil, this.#o.now() + ms);
    chat.backoffMs = Math.min(CHAT_BACKOFF_MAX_MS, ms * 2);
    return ms;
  }

  /** A send to this chat went through: its back-off starts over. */
  chatSucceeded(key: string): void {
    const chat = this.#keys.get(keyId("message", key));
    if (chat) chat.backoffMs = CHAT_BACKOFF_START_MS;
  }

  /** Forgets keys nobody waits for, idle for `idleMs` and not paused. Runs every few acquires. */
  sweep(): void {
    this.#sinceSweep = 0;
    const now = this.#o.now();
    for (const [id, state] of this.#keys) {
      if (state.waiters === 0 && now - state.lastUsed >= this.#o.idleMs && state.pausedUntil <= now) {
        this.#keys.delete(id);
      }
    }
  }

  /** The cluster's limits of a call of `kind` at `rank`: lower ranks may fill only their share. */
  #appLimits(kind: CallKind, rank: number): BudgetLimit[] {
    const share = this.#shares[rank] ?? 1;
    const cap = (n: number) => Math.max(1, Math.floor(n * share));
    return [
      { key: `app:${kind}:s`, limit: cap(this.#o.appPerSecond), windowMs: 1000 + this.#o.marginMs },
      { key: `app:${kind}:m`, limit: cap(this.#o.appPerMinute), windowMs: 60_000 + this.#o.marginMs },
    ];
  }

  #chatLimit(key: string): BudgetLimit {
    return { key: `chat:${key}`, limit: this.#o.chatPerSecond, windowMs: 1000 + this.#o.marginMs };
  }

  /** Takes one unit of `limits` from the shared budget, waiting while it is spent; the waits made. */
  async #takeShared(limits: BudgetLimit[], signal?: AbortSignal): Promise<number> {
    const shared = this.#o.shared;
    if (!shared) return 0;
    let waits = 0;
    for (;;) {
      let ms: number;
      try {
        ms = await shared.take(limits, this.#o.now);
      } catch (err) {
        this.#o.onSharedError?.(err);
        return waits;
      }
      if (ms <= 0) return waits;
      waits++;
      await this.#o.sleep(ms, signal);
    }
  }

  #budget(): KindBudget {
    const budget: KindBudget = {
      second: new WindowLog(this.#o.appPerSecond, 1000 + this.#o.marginMs),
      minute: new WindowLog(this.#o.appPerMinute, 60_000 + this.#o.marginMs),
      pausedUntil: 0,
      gate: new FairGate((rank) => {
        const now = this.#o.now();
        const share = this.#shares[rank] ?? 1;
        return Math.max(
          budget.second.waitMs(now, budget.second.limit * share),
          budget.minute.waitMs(now, budget.minute.limit * share),
          budget.pausedUntil - now,
        );
      }, this.#o.sleep),
    };
    return budget;
  }

  #key(kind: "message" | "card", key: string): KeyState {
    const id = keyId(kind, key);
    let state = this.#keys.get(id);
    if (!state) {
      const limit = kind === "card" ? this.#o.cardPerSecond : this.#o.chatPerSecond;
      const log = new WindowLog(limit, 1000 + this.#o.marginMs);
      const s: KeyState = {
        log,
        gate: new FairGate(() => {
          const now = this.#o.now();
          return Math.max(log.waitMs(now), s.pausedUntil - now);
        }, this.#o.sleep),
        waiters: 0,
        pausedUntil: 0,
        backoffMs: CHAT_BACKOFF_START_MS,
        lastUsed: this.#o.now(),
      };
      state = s;
      this.#keys.set(id, state);
    }
    return state;
  }
}

/** Message and card keys live in one map; a kind prefix keeps them apart whatever the caller's key. */
function keyId(kind: "message" | "card", key: string): string {
  return `${kind}\u0000${key}`;
}
