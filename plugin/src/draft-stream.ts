/**
 * Live answers (relay feature `stream`, protocol.md "Streaming"): OpenClaw's partial-reply snapshots
 * of one agent turn → `draft` frames carrying the full text so far, for the relay's streaming card.
 *
 * - Only the newest draft matters, so drafts are throttled to one per `hello.stream.minIntervalMs`:
 *   a snapshot inside the window replaces the waiting one and goes out on the trailing edge.
 * - Drafts are fire-and-forget. One written while the socket is down is dropped, never resent: the
 *   next snapshot supersedes it, and the final answer is an ordinary durable `send`.
 * - A draft the relay cannot show is answered `stream_unavailable`; that stream stops drafting and
 *   new streams wait STREAM_BACKOFF_MS (the relay refuses them for as long after a failed card).
 * - The final payload closes the stream: its first text piece carries the `streamId` (see
 *   `finish`). After that, a new snapshot opens the turn's next stream (answer index + 1).
 *
 * Timers are injected, so the throttle is tested without sleeping.
 */
import { createHash } from "node:crypto";
import {
  type DraftFrame,
  Feature,
  type HelloFrame,
  MAX_CLIENT_FRAME_BYTES,
} from "../../src/relay/protocol.ts";
import type { EventLog } from "./log.ts";

/** Used when the relay lists `stream` but gives no `hello.stream` (its documented default). */
export const DEFAULT_MIN_INTERVAL_MS = 200;
/** After `stream_unavailable`, new streams are not attempted for this long. */
export const STREAM_BACKOFF_MS = 60_000;
/** StreamId limits (protocol.ts `StreamId`). */
const STREAM_ID_MAX = 64;
const STREAM_ID_CHARS = /^[A-Za-z0-9_:.-]+$/;

/** The relay connection as drafting sees it. */
export interface DraftLink {
  readonly hello?: HelloFrame;
  /**
   * Writes a draft if the socket is ready (false otherwise: dropped, not queued). `onError` is
   * called if the relay answers this draft's id with an `error` frame.
   */
  draft(frame: DraftFrame, onError: (code: string, message: string) => void): boolean;
}

export type Cancel = () => void;
export type Schedule = (fn: () => void, ms: number) => Cancel;

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

/** True when this relay connection accepts drafts. */
export function relayStreams(hello: HelloFrame | undefined): boolean {
  return hello?.features?.includes(Feature.stream) === true;
}

/** A `streamId` (≤ 64 of `[A-Za-z0-9_:.-]`) from stable parts: readable when it fits, hashed otherwise. */
export function streamIdFor(...parts: Array<string | number>): string {
  const plain = parts.join(":");
  if (plain.length <= STREAM_ID_MAX && STREAM_ID_CHARS.test(plain)) return plain;
  return `s:${createHash("sha256").update(plain).digest("hex").slice(0, 40)}`;
}

/** Whether a frame fits the relay's plugin → relay cap once serialised. */
export function fitsFrame(frame: DraftFrame): boolean {
  return Buffer.byteLength(JSON.stringify(frame), "utf8") <= MAX_CLIENT_FRAME_BYTES;
}

/**
 * The account-wide back-off after a `stream_unavailable`: shared by every turn of one relay
 * connection, so a relay that cannot create cards is not asked again for every message.
 */
export class StreamGate {
  #blockedUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  get open(): boolean {
    return this.now() >= this.#blockedUntil;
  }

  block(): void {
    this.#blockedUntil = this.now() + STREAM_BACKOFF_MS;
  }
}

export interface DraftStreamOptions {
  link: DraftLink;
  gate: StreamGate;
  target: Pick<DraftFrame, "replyTo" | "to">;
  /** The inbound message id: streams are `<base>:<answer index>`. */
  base: string;
  log: EventLog;
  now?: () => number;
  schedule?: Schedule;
}

/** What `finish` hands to the final send. */
export interface StreamClose {
  streamId: string;
  /** The newest snapshot, for a final payload that carries no text of its own. */
  text: string;
}

interface Stream {
  streamId: string;
  state: "drafting" | "stopped";
  /** Newest snapshot seen, sent or not. */
  latest: string;
  /** Text of the last draft written. */
  sentText: string | undefined;
  sentAt: number;
  drafts: number;
  /** A snapshot was over the frame cap (logged once per stream). */
  tooLarge: boolean;
  trailing: Cancel | undefined;
}

/** The streams of one inbound turn. Not reused across turns. */
export class DraftStream {
  readonly #o: DraftStreamOptions;
  readonly #now: () => number;
  readonly #schedule: Schedule;
  #index = 0;
  #current: Stream | undefined;

  constructor(opts: DraftStreamOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#schedule = opts.schedule ?? realSchedule;
  }

  /**
   * One partial-reply snapshot (OpenClaw's `onPartialReply`). Returns whether it is on its way to
   * the user, which is what OpenClaw's progress-visibility contract asks of the callback.
   */
  partial(payload: { text?: unknown; delta?: unknown; replace?: unknown } | undefined): boolean {
    const stream = this.#current ?? this.#open();
    if (!stream || stream.state === "stopped") return false;
    // Reconnected to a relay without the feature: it would refuse the frame; the final still closes.
    if (!relayStreams(this.#o.link.hello)) return false;
    const text = snapshotText(stream.latest, payload);
    if (text === undefined || !text.trim()) return false;
    stream.latest = text;
    if (stream.trailing) return true;
    const wait = stream.sentAt + this.#minInterval() - this.#now();
    if (wait <= 0) this.#flush(stream);
    else stream.trailing = this.#schedule(() => this.#trailing(stream), wait);
    return true;
  }

  /**
   * The turn's final payload is about to be sent: stops drafting and, when the relay was shown a
   * draft of this stream, returns its id for the final `send` (and the snapshot, should the payload
   * have no text). The next snapshot, if any, starts a new stream.
   */
  finish(): StreamClose | undefined {
    const stream = this.#current;
    if (!stream) return undefined;
    this.#current = undefined;
    stream.trailing?.();
    stream.trailing = undefined;
    const shown = stream.drafts > 0 && stream.state === "drafting";
    stream.state = "stopped";
    return shown ? { streamId: stream.streamId, text: stream.latest } : undefined;
  }

  /** The current stream's id, if one is open (tests, logs). */
  get streamId(): string | undefined {
    return this.#current?.streamId;
  }

  #open(): Stream | undefined {
    const { link, gate } = this.#o;
    if (!relayStreams(link.hello) || !gate.open) return undefined;
    const stream: Stream = {
      streamId: streamIdFor(this.#o.base, this.#index++),
      state: "drafting",
      latest: "",
      sentText: undefined,
      sentAt: Number.NEGATIVE_INFINITY,
      drafts: 0,
      tooLarge: false,
      trailing: undefined,
    };
    this.#current = stream;
    return stream;
  }

  #minInterval(): number {
    return this.#o.link.hello?.stream?.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  }

  #trailing(stream: Stream): void {
    stream.trailing = undefined;
    if (stream.state === "drafting") this.#flush(stream);
  }

  #flush(stream: Stream): void {
    if (stream.latest === stream.sentText) return;
    // Attempted counts as sent for the throttle, written or not: drafts are never resent.
    stream.sentAt = this.#now();
    const n = stream.drafts + 1;
    const frame: DraftFrame = {
      type: "draft",
      id: `d:${stream.streamId}:${n}`,
      ...this.#o.target,
      streamId: stream.streamId,
      text: stream.latest,
    };
    // The card keeps the previous draft; the final send (split into frames) carries everything.
    if (!fitsFrame(frame)) {
      if (!stream.tooLarge) {
        this.#o.log.debug("draft_too_large", { streamId: stream.streamId, chars: stream.latest.length });
      }
      stream.tooLarge = true;
      return;
    }
    const onError = (code: string, message: string) => this.#failed(stream, frame.id, code, message);
    if (!this.#o.link.draft(frame, onError)) return;
    stream.sentText = stream.latest;
    stream.drafts = n;
  }

  #failed(stream: Stream, id: string, code: string, message: string): void {
    // Even when the refusal arrives after the final: the relay refuses new streams for as long.
    if (code === "stream_unavailable") this.#o.gate.block();
    if (stream.state === "stopped") return;
    stream.state = "stopped";
    stream.trailing?.();
    stream.trailing = undefined;
    this.#o.log.warn("draft_refused", { streamId: stream.streamId, id, code, error: message.slice(0, 200) });
  }
}

/** The full text so far: OpenClaw gives a snapshot in `text`; `delta`/`replace` are a fallback. */
function snapshotText(
  previous: string,
  payload: { text?: unknown; delta?: unknown; replace?: unknown } | undefined,
): string | undefined {
  if (typeof payload?.text === "string") return payload.text;
  if (typeof payload?.delta !== "string") return undefined;
  return payload.replace === true ? payload.delta : previous + payload.delta;
}
