/**
 * Generators for the bad-input fuzzers (in-suite tests and `npm run fuzz`), and the builders that turn
 * a generated case into the exact bytes and headers sent. Values are JSON *text* fragments, not JS
 * values, so that shapes a JS object cannot carry through JSON.stringify survive: 60,000 levels of
 * nesting, own `__proto__` keys, numbers such as 1e400. Cases are plain data (deterministic for a
 * seed); anything time-bound (the signature's timestamp) is computed when the request is built.
 */
import fc from "fast-check";
import { encryptFeishu, signFeishu } from "../fakes/feishu-events.ts";

export const MIB = 1024 * 1024;
const q = JSON.stringify;
/** Keys that trip code treating parsed JSON as plain objects. */
export const PROTO_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "toJSON",
] as const;

// ------------------------------------------------------------------------------------------ values

/** `depth` levels of nesting as JSON text (arrays, objects, or both alternating). */
export function deepJson(depth: number, shape: "array" | "object" | "mixed"): string {
  if (shape === "array") return `${"[".repeat(depth)}${"]".repeat(depth)}`;
  if (shape === "object") return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  const half = Math.floor(depth / 2);
  return `${'{"a":['.repeat(half)}1${"]}".repeat(half)}`;
}

const deepShape = fc.constantFrom<"array" | "object" | "mixed">("array", "object", "mixed");

/** Deep nesting, mostly moderate, sometimes the 60,000 levels that overflow recursive code. */
export const deepArb = (maxDepth = 60_000): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.oneof(
        { weight: 2, arbitrary: fc.integer({ min: 50, max: 2_000 }) },
        { weight: 3, arbitrary: fc.integer({ min: Math.min(5_000, maxDepth), max: maxDepth }) },
        { weight: 1, arbitrary: fc.constant(maxDepth) },
      ),
      deepShape,
    )
    .map(([depth, shape]) => deepJson(depth, shape));

const unicodeString = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "\u0000", "\ud800", "\udfff\ud800", "🦀".repeat(20), "‮rtl", "a\r\nb", "\\u0000"),
);

/** A long string of the given size (100 KB ids by default). */
export const hugeStringArb = (min = 60_000, max = 110_000): fc.Arbitrary<string> =>
  fc
    .tuple(fc.integer({ min, max }), fc.constantFrom("x", "é", "🦀", "om_"))
    .map(([n, c]) => JSON.stringify(c.repeat(Math.ceil(n / c.length))));

const oddNumbers = fc.constantFrom("1e400", "-1e400", "-0", "1e21", "9007199254740993", "0.1e-400", "-1");

/** Objects that look like what some code expects, with prototype-ish keys. */
export const protoObjectArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom(...PROTO_KEYS, "type", "text", "tag", "seq", "id", "length"),
      fc.oneof(fc.json({ maxDepth: 1 }), fc.constant('{"toString":1}')),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);

/** Any JSON value (as text) that code expecting a short string or a small object could choke on. */
export function weirdJsonArb(opts: { maxDepth?: number; huge?: boolean } = {}): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 4, arbitrary: unicodeString.map((s) => JSON.stringify(s)) },
    { weight: 3, arbitrary: protoObjectArb },
    { weight: 2, arbitrary: oddNumbers },
    { weight: 1, arbitrary: fc.constantFrom("null", "true", "[]", "{}", '""', '[{"toString":1}]') },
    { weight: opts.huge === false ? 0 : 1, arbitrary: hugeStringArb() },
    { weight: 1, arbitrary: deepArb(opts.maxDepth) },
  );
}

/** A slot of a template: its valid value (null) most of the time, else a weird one. */
const slot = (weird: fc.Arbitrary<string>, keep = 8): fc.Arbitrary<string | null> =>
  fc.oneof({ weight: keep, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: weird });

/** Extra keys (prototype-ish or unknown) put into an object. */
const extrasArb = (weird: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant([] as Array<[string, string]>) },
    {
      weight: 1,
      arbitrary: fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS, "extra", "ÿ"), weird), {
        minLength: 1,
        maxLength: 2,
      }),
    },
  );

/** `{...}` from ordered key/JSON-text pairs; extra pairs go last. */
function objectText(
  pairs: Array<[string, string | undefined]>,
  extras: Array<[string, string]> = [],
): string {
  const parts: string[] = [];
  for (const [k, v] of [...pairs, ...extras]) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
  return `{${parts.join(",")}}`;
}

/** Pads a JSON object text to exactly `size` bytes with a leading `"pad"` key (when it fits). */
export function padObject(text: string, size: number): string {
  const bytes = Buffer.byteLength(text);
  const overhead = '"pad":"",'.length;
  if (!text.startsWith("{") || bytes + overhead > size) return text;
  return `{"pad":"${"x".repeat(size - bytes - overhead)}",${text.slice(1)}`;
}

// ------------------------------------------------------------------------------------------ webhook

export interface FeishuApp {
  appId: string;
  tenantKey: string;
  verificationToken: string;
  /** The Encrypt Key of the relay under test, if it runs encrypted. */
  encryptKey?: string;
}

/** The event slots a message event is built from; null = the valid value. */
export interface MessageSlots {
  schema: string | null;
  eventId: string | null;
  eventType: string | null;
  token: string | null;
  header: string | null;
  event: string | null;
  sender: string | null;
  senderOpenId: string | null;
  senderType: string | null;
  message: string | null;
  messageId: string | null;
  chatId: string | null;
  chatType: string | null;
  msgType: string | null;
  /** The text inside `content` (content is a JSON *string*); null = `{"text":"hello"}`. */
  contentInner: string | null;
  /** A non-string content value (replaces the JSON string). */
  content: string | null;
  mentions: string | null;
  createTime: string | null;
  extras: Array<[string, string]>;
  headerExtras: Array<[string, string]>;
  messageExtras: Array<[string, string]>;
}

/** What a push body is made of, before any encryption. */
export type WebhookBody =
  | { kind: "valid"; text: string }
  | { kind: "message"; slots: MessageSlots }
  | { kind: "v1"; uuid: string | null; type: string | null; event: string | null }
  | { kind: "challenge"; challenge: string | null; token: string | null; extras: Array<[string, string]> }
  | { kind: "json"; text: string }
  | { kind: "garbage"; text: string }
  | { kind: "deep"; text: string };

/** How the body reaches an encrypted relay; `plain` relays ignore all but `padTo` and `contentType`. */
export type EncLayer =
  | { kind: "ok" }
  | { kind: "plain" }
  | { kind: "oldTimestamp"; ageSec: number }
  | { kind: "weirdTimestamp"; ts: string }
  | { kind: "badSignature"; sig: string }
  | { kind: "noSignature"; drop: "timestamp" | "nonce" | "signature" }
  | { kind: "wrongKey" }
  | { kind: "badBase64"; encrypt: string }
  | { kind: "shortCipher"; bytes: Uint8Array }
  | { kind: "encryptNotString"; encrypt: string };

export interface WebhookCase {
  body: WebhookBody;
  layer: EncLayer;
  iv: Uint8Array;
  nonce: string;
  /** Pad the final body to this many bytes (near/over the 1 MiB cap). */
  padTo: number | null;
  contentType: string | null;
}

const contentInnerArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: unicodeString.map((t) => JSON.stringify({ text: t })) },
  { weight: 2, arbitrary: weirdJsonArb() },
  // A post whose nodes nest deep: recursive renderers overflow on it.
  {
    weight: 2,
    arbitrary: deepArb().map(
      (deep) => `{"title":"t","content":[[{"tag":"text","text":"x","children":${deep}}]]}`,
    ),
  },
  { weight: 1, arbitrary: deepArb().map((deep) => `{"text":${deep}}`) },
  { weight: 1, arbitrary: deepArb() },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

function messageSlotsArb(): fc.Arbitrary<MessageSlots> {
  const w = weirdJsonArb();
  return fc.record({
    schema: slot(w, 20),
    eventId: slot(w),
    eventType: slot(fc.oneof(w, fc.constant('"im.message.receive_v1 "')), 10),
    token: slot(w, 20),
    header: slot(w, 30),
    event: slot(w, 30),
    sender: slot(w, 20),
    senderOpenId: slot(w),
    senderType: slot(fc.oneof(w, fc.constantFrom('"app"', '"bot"')), 10),
    message: slot(w, 30),
    messageId: slot(w),
    chatId: slot(w),
    chatType: slot(fc.oneof(w, fc.constantFrom('"group"', '"topic"')), 8),
    msgType: slot(
      fc.oneof(w, fc.constantFrom('"post"', '"image"', '"file"', '"interactive"', '"sticker"')),
      4,
    ),
    // Deep content is rare but present (about 1% of cases): each one overflowing costs ~0.5 s today.
    contentInner: slot(contentInnerArb, 12),
    content: slot(w, 15),
    mentions: slot(
      fc.oneof(
        w,
        fc.array(fc.oneof(protoObjectArb, w), { maxLength: 3 }).map((xs) => `[${xs.join(",")}]`),
        fc.constant('[{"key":"@_user_1","id":{"open_id":{"toString":1}},"name":{"__proto__":1}}]'),
      ),
      6,
    ),
    createTime: slot(w, 15),
    extras: extrasArb(w),
    headerExtras: extrasArb(w),
    messageExtras: extrasArb(w),
  });
}

export function webhookBodyArb(): fc.Arbitrary<WebhookBody> {
  const w = weirdJsonArb();
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: "valid", text: "" } as WebhookBody) },
    {
      weight: 2,
      arbitrary: unicodeString.map((text): WebhookBody => ({ kind: "valid", text })),
    },
    { weight: 14, arbitrary: messageSlotsArb().map((slots): WebhookBody => ({ kind: "message", slots })) },
    {
      weight: 2,
      arbitrary: fc
        .record({ uuid: slot(w, 2), type: slot(w, 4), event: slot(w, 2) })
        .map((r): WebhookBody => ({ kind: "v1", ...r })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({ challenge: slot(w, 2), token: slot(w, 3), extras: extrasArb(w) })
        .map((r): WebhookBody => ({ kind: "challenge", ...r })),
    },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((text): WebhookBody => ({ kind: "json", text })) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.string({ unit: "binary", maxLength: 60 }),
          fc.constantFrom("", "{", '{"schema":"2.0"', "null", "[]", '"str"', "\u0000{}", "\ufeff{}"),
        )
        .map((text): WebhookBody => ({ kind: "garbage", text })),
    },
    { weight: 1, arbitrary: deepArb().map((text): WebhookBody => ({ kind: "deep", text })) },
  );
}

export function encLayerArb(): fc.Arbitrary<EncLayer> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant<EncLayer>({ kind: "ok" }) },
    { weight: 1, arbitrary: fc.constant<EncLayer>({ kind: "plain" }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 3_601, max: 400 * 86_400 })
        .map((ageSec): EncLayer => ({ kind: "oldTimestamp", ageSec })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom("", "abc", "-1", "1e30", "99999999999999999999", " 1", "0x10", "1.5")
        .map((ts): EncLayer => ({ kind: "weirdTimestamp", ts })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.string({ unit: "grapheme-ascii", maxLength: 70 }),
          fc.constantFrom("0".repeat(64), "g".repeat(64), "A".repeat(64)),
        )
        .map((sig): EncLayer => ({ kind: "badSignature", sig })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<"timestamp" | "nonce" | "signature">("timestamp", "nonce", "signature")
        .map((drop): EncLayer => ({ kind: "noSignature", drop })),
    },
    { weight: 1, arbitrary: fc.constant<EncLayer>({ kind: "wrongKey" }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.string({ unit: "binary", maxLength: 60 }),
          fc.constantFrom("", "====", "AAAA", "!!!!", "YWJj\nZGVm", "A".repeat(23)),
        )
        .map((encrypt): EncLayer => ({ kind: "badBase64", encrypt })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes): EncLayer => ({ kind: "shortCipher", bytes })),
    },
    {
      weight: 1,
      arbitrary: weirdJsonArb({ huge: false }).map(
        (encrypt): EncLayer => ({ kind: "encryptNotString", encrypt }),
      ),
    },
  );
}

export function webhookCaseArb(): fc.Arbitrary<WebhookCase> {
  return fc.record({
    body: webhookBodyArb(),
    layer: encLayerArb(),
    iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    nonce: fc.stringMatching(/^[0-9a-z]{1,16}$/),
    padTo: fc.oneof(
      { weight: 40, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.integer({ min: MIB - 2_048, max: MIB + 2_048 }) },
    ),
    contentType: fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("text/plain", "application/json; charset=latin1", "", "*/*") },
    ),
  });
}

export interface BuildEnv {
  app: FeishuApp;
  /** A registered user's open id: valid events from them are stored and delivered. */
  senderOpenId: string;
  /** Fresh, unique ids for valid events (so a replayed case is not a duplicate). */
  nextId: () => string;
  nowMs: number;
}

export interface BuiltRequest {
  body: string;
  headers: Record<string, string>;
  /** Set when the request is a well-formed, correctly signed event from the registered user. */
  validMessageId?: string;
}

/** A valid `im.message.receive_v1` push from `senderOpenId` (plaintext JSON text). */
export function validEventText(
  env: BuildEnv,
  text: string,
  id = env.nextId(),
): { text: string; messageId: string } {
  const messageId = `om_fuzz_${id}`;
  const slots = emptySlots();
  return {
    text: messageText(env, slots, { messageId, eventId: `ev_fuzz_${id}`, text: text || `fuzz ${id}` }),
    messageId,
  };
}

function emptySlots(): MessageSlots {
  return {
    schema: null,
    eventId: null,
    eventType: null,
    token: null,
    header: null,
    event: null,
    sender: null,
    senderOpenId: null,
    senderType: null,
    message: null,
    messageId: null,
    chatId: null,
    chatType: null,
    msgType: null,
    contentInner: null,
    content: null,
    mentions: null,
    createTime: null,
    extras: [],
    headerExtras: [],
    messageExtras: [],
  };
}

function messageText(
  env: BuildEnv,
  s: MessageSlots,
  ids: { messageId: string; eventId: string; text?: string },
) {
  const now = q(String(env.nowMs));
  const header =
    s.header ??
    objectText(
      [
        ["event_id", s.eventId ?? q(ids.eventId)],
        ["event_type", s.eventType ?? q("im.message.receive_v1")],
        ["create_time", now],
        ["token", s.token ?? q(env.app.verificationToken)],
        ["app_id", q(env.app.appId)],
        ["tenant_key", q(env.app.tenantKey)],
      ],
      s.headerExtras,
    );
  const inner = s.contentInner ?? q({ text: ids.text ?? "hello" });
  const message =
    s.message ??
    objectText(
      [
        ["message_id", s.messageId ?? q(ids.messageId)],
        ["create_time", s.createTime ?? now],
        ["chat_id", s.chatId ?? q(`oc_fuzz_${env.senderOpenId}`)],
        ["chat_type", s.chatType ?? q("p2p")],
        ["message_type", s.msgType ?? q("text")],
        ["content", s.content ?? q(inner)],
        ["mentions", s.mentions ?? undefined],
      ],
      s.messageExtras,
    );
  const sender =
    s.sender ??
    objectText([
      ["sender_id", objectText([["open_id", s.senderOpenId ?? q(env.senderOpenId)]])],
      ["sender_type", s.senderType ?? q("user")],
      ["tenant_key", q(env.app.tenantKey)],
    ]);
  const event =
    s.event ??
    objectText([
      ["sender", sender],
      ["message", message],
    ]);
  return objectText(
    [
      ["schema", s.schema ?? q("2.0")],
      ["header", header],
      ["event", event],
    ],
    s.extras,
  );
}

/** The plaintext JSON text of a body, before encryption. */
export function bodyText(env: BuildEnv, body: WebhookBody): { text: string; validMessageId?: string } {
  switch (body.kind) {
    case "valid": {
      const v = validEventText(env, body.text);
      return { text: v.text, validMessageId: v.messageId };
    }
    case "message": {
      const id = env.nextId();
      return { text: messageText(env, body.slots, { messageId: `om_fz_${id}`, eventId: `ev_fz_${id}` }) };
    }
    case "v1":
      return {
        text: objectText([
          ["ts", q(String(env.nowMs / 1000))],
          ["uuid", body.uuid ?? q(`uuid_${env.nextId()}`)],
          ["token", q(env.app.verificationToken)],
          ["type", body.type ?? q("event_callback")],
          [
            "event",
            body.event ??
              objectText([
                ["type", q("message")],
                ["text", q("hi")],
              ]),
          ],
        ]),
      };
    case "challenge":
      return {
        text: objectText(
          [
            ["challenge", body.challenge ?? q(`ch_${env.nextId()}`)],
            ["token", body.token ?? q(env.app.verificationToken)],
            ["type", q("url_verification")],
          ],
          body.extras,
        ),
      };
    default:
      return { text: body.text };
  }
}

/** The exact request for a case: encrypted and signed with the current time when the relay is encrypted. */
export function buildWebhookRequest(env: BuildEnv, c: WebhookCase): BuiltRequest {
  const plain = bodyText(env, c.body);
  const key = env.app.encryptKey;
  const headers: Record<string, string> = {};
  if (c.contentType !== "") headers["content-type"] = c.contentType ?? "application/json";
  const pad = (text: string) => (c.padTo === null ? text : padObject(text, c.padTo));
  // A relay without an Encrypt Key must refuse an encrypted body too.
  if (!key && c.layer.kind === "badBase64")
    return { body: pad(`{"encrypt":${q(c.layer.encrypt)}}`), headers };
  if (!key || c.layer.kind === "plain") {
    const body = pad(plain.text);
    // A padded valid event may be over the cap (413): only unpadded ones must be stored.
    const valid = key || c.padTo !== null || c.contentType !== null ? undefined : plain.validMessageId;
    return { body, headers, validMessageId: valid };
  }
  const layer = c.layer;
  let encrypt: string;
  switch (layer.kind) {
    case "wrongKey":
      encrypt = q(encryptFeishu(plain.text, `${key}-wrong`, c.iv));
      break;
    case "badBase64":
      encrypt = q(layer.encrypt);
      break;
    case "shortCipher":
      encrypt = q(Buffer.from(layer.bytes).toString("base64"));
      break;
    case "encryptNotString":
      encrypt = layer.encrypt;
      break;
    default:
      encrypt = q(encryptFeishu(plain.text, key, c.iv));
  }
  const body = pad(`{"encrypt":${encrypt}}`);
  const nowSec = Math.floor(env.nowMs / 1000);
  const ts =
    layer.kind === "oldTimestamp"
      ? String(nowSec - layer.ageSec)
      : layer.kind === "weirdTimestamp"
        ? layer.ts
        : String(nowSec);
  headers["x-lark-request-timestamp"] = ts;
  headers["x-lark-request-nonce"] = c.nonce;
  headers["x-lark-signature"] =
    layer.kind === "badSignature" ? layer.sig : signFeishu(ts, c.nonce, key, body);
  if (layer.kind === "noSignature")
    delete headers[`x-lark-${layer.drop === "signature" ? "signature" : `request-${layer.drop}`}`];
  const valid =
    layer.kind === "ok" && c.padTo === null && c.contentType === null ? plain.validMessageId : undefined;
  return { body, headers, validMessageId: valid };
}

// ------------------------------------------------------------------------------------------ frames

export type FrameCase = { kind: "text"; text: string } | { kind: "binary"; bytes: Uint8Array };

/**
 * Frames stay under the 64 KiB cap (DESIGN §4): bigger ones are refused by the WebSocket layer itself,
 * which closes the socket with 1009.
 */
export const FRAME_MAX_BYTES = 64 * 1024;
export const FRAME_DEEP_MAX = 30_000;

/** Deep nesting that fits in a frame: the deepest array, or an object nest, under `bytes`. */
const deepFrameArb = (bytes: number, shape?: "object") =>
  deepArb(FRAME_DEEP_MAX).map((d) =>
    d.length <= bytes
      ? d
      : shape === "object"
        ? deepJson(Math.floor(bytes / 6), "object")
        : deepJson(Math.floor(bytes / 2), "array"),
  );

export function frameArb(ownOpenId: string): fc.Arbitrary<FrameCase> {
  const w = weirdJsonArb({ maxDepth: FRAME_DEEP_MAX, huge: false });
  const big = hugeStringArb(10_000, 30_000);
  const text = (a: fc.Arbitrary<string>) => a.map((t): FrameCase => ({ kind: "text", text: t }));
  const send = fc
    .record({
      id: slot(fc.oneof(w, big), 3),
      replyTo: slot(fc.oneof(w, fc.constantFrom('"om_"', '"om_x"', q(`om_${"x".repeat(200)}`))), 2),
      to: slot(
        fc.oneof(w, fc.constantFrom('"chat:oc_x"', '"user:ou_x"', q(`user:${ownOpenId}`), '"user:"')),
        1,
      ),
      msgType: slot(fc.oneof(w, fc.constantFrom('"post"', '"markdown"', '"interactive"', '"image"')), 2),
      text: slot(fc.oneof(w, big, unicodeString.map(q)), 3),
      content: slot(fc.oneof(w, protoObjectArb), 1),
      uuid: slot(w, 2),
      extras: extrasArb(w),
    })
    .map((s) =>
      objectText(
        [
          ["type", q("send")],
          ["id", s.id ?? q("fz")],
          ["replyTo", s.replyTo ?? undefined],
          ["to", s.to ?? q(`user:${ownOpenId}`)],
          ["msgType", s.msgType ?? undefined],
          ["text", s.text ?? q("fuzz reply")],
          ["content", s.content ?? undefined],
          ["uuid", s.uuid ?? undefined],
        ],
        s.extras,
      ),
    );
  return fc
    .oneof(
      { weight: 3, arbitrary: text(fc.json({ maxDepth: 3 })) },
      { weight: 2, arbitrary: text(fc.string({ unit: "binary", maxLength: 60 })) },
      {
        weight: 4,
        arbitrary: text(
          fc
            .tuple(
              fc.oneof(w, fc.constantFrom('{"toString":1}', '{"__proto__":"ping"}', '["ping"]')),
              extrasArb(w),
            )
            .map(([t, extras]) => objectText([["type", t]], extras)),
        ),
      },
      {
        weight: 3,
        arbitrary: text(
          fc
            .tuple(fc.constantFrom("ack", "ping", "pong", "auth", "llm_request", "hello"), protoObjectArb)
            .map(([t, obj]) => `{"type":${q(t)},${obj.slice(1)}`),
        ),
      },
      {
        weight: 2,
        arbitrary: text(
          fc
            .oneof(w, fc.constantFrom("1e400", "-1", "1.5", "9007199254740993", '"1"'))
            .map((seq) => `{"type":"ack","seq":${seq}}`),
        ),
      },
      { weight: 6, arbitrary: text(send) },
      { weight: 1, arbitrary: text(deepFrameArb(60_000)) },
      {
        weight: 1,
        arbitrary: text(deepFrameArb(60_000, "object").map((d) => `{"type":"send","id":"d","content":${d}}`)),
      },
      {
        weight: 1,
        arbitrary: fc
          .oneof(
            fc.uint8Array({ maxLength: 40 }),
            fc.constant(new TextEncoder().encode('{"type":"send","id":"b","text":"x"}')),
          )
          .map((bytes): FrameCase => ({ kind: "binary", bytes })),
      },
    )
    .filter((c) => c.kind === "binary" || Buffer.byteLength(c.text) <= FRAME_MAX_BYTES);
}

// ------------------------------------------------------------------------------------------ POST /api/messages

export interface MessagesCase {
  body: string;
  contentType: string | null;
  idempotencyKey: string | null;
}

/**
 * `deepWeight` (out of ~3,300) and `slotDepth`: a 60,000-level body costs the relay several seconds
 * today, so the in-suite run keeps deep values in fields shallow and whole deep bodies to a few.
 */
export function messagesCaseArb(
  ownOpenId: string,
  opts: { deepWeight?: number; slotDepth?: number } = {},
): fc.Arbitrary<MessagesCase> {
  const deepWeight = opts.deepWeight ?? 40;
  const w = weirdJsonArb({ maxDepth: opts.slotDepth ?? 60_000 });
  const sendBody = fc
    .record({
      replyTo: slot(fc.oneof(w, fc.constantFrom('"om_"', '"om_unknown"', q(`om_${"x".repeat(200)}`))), 3),
      // Mostly refused targets: accepted sends are paced by Feishu's rate limits.
      to: slot(fc.oneof(w, fc.constantFrom('"chat:oc_x"', '"user:ou_x"', '"user:"', '"chat:"')), 1),
      msgType: slot(fc.oneof(w, fc.constantFrom('"post"', '"markdown"', '"interactive"', '"file"')), 2),
      text: slot(fc.oneof(w, hugeStringArb(), unicodeString.map(q)), 3),
      content: slot(
        fc.oneof(
          w,
          protoObjectArb,
          fc.constant('{"zh_cn":{"title":"t","content":[[{"tag":"text","text":"x"}]]}}'),
        ),
        1,
      ),
      uuid: slot(fc.oneof(w, fc.constant(q("u".repeat(51)))), 3),
      extras: extrasArb(w),
    })
    .map((s) =>
      objectText(
        [
          ["replyTo", s.replyTo ?? undefined],
          ["to", s.to ?? q(`user:${ownOpenId}`)],
          ["msgType", s.msgType ?? undefined],
          ["text", s.text ?? q("fuzz cron")],
          ["content", s.content ?? undefined],
          ["uuid", s.uuid ?? undefined],
        ],
        s.extras,
      ),
    );
  const body = fc.oneof(
    { weight: 2_400, arbitrary: sendBody },
    { weight: 400, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 400, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
    { weight: deepWeight, arbitrary: deepArb() },
    {
      weight: deepWeight,
      arbitrary: deepArb().map(
        (d) => `{"to":${q(`user:${ownOpenId}`)},"msgType":"post","content":{"a":${d}}}`,
      ),
    },
    {
      weight: 80,
      arbitrary: fc
        .integer({ min: MIB - 2_048, max: MIB + 2_048 })
        .map((size) => padObject(`{"to":${q(`user:${ownOpenId}`)},"text":"big"}`, size)),
    },
  );
  return fc.record({
    body,
    contentType: fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("text/plain", "", "application/x-www-form-urlencoded") },
    ),
    // Header values must be ByteStrings: printable ASCII, possibly long.
    idempotencyKey: fc.oneof(
      { weight: 6, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 80 }) },
    ),
  });
}

export function buildMessagesRequest(
  c: MessagesCase,
  token: string,
): { body: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (c.contentType !== "") headers["content-type"] = c.contentType ?? "application/json";
  // Control characters make the header itself invalid: that is the client's fetch refusing, not the relay.
  const key = c.idempotencyKey?.replace(/[^\x20-\x7e]/g, "").trim();
  if (key) headers["idempotency-key"] = key;
  return { body: c.body, headers };
}

// ------------------------------------------------------------------------------------------ answers

/**
 * Statuses a relay may answer bad input with: 2xx, 4xx, 503, and with `upstream` a 502 that passes on
 * Feishu's own refusal (`feishu_…`); anything else (500, a hang) is a defect.
 */
export function answerProblem(status: number, text: string, upstream = false): string | undefined {
  if (status >= 200 && status < 300) return undefined;
  const allowed =
    (status >= 400 && status < 500) ||
    status === 503 ||
    (upstream && status === 502 && /"code":"feishu_/.test(text));
  if (!allowed) return `status ${status}: ${text.slice(0, 300)}`;
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === "string" && e.code && typeof e.message === "string") return undefined;
  } catch {}
  return `status ${status} without {"error":{"code","message"}}: ${text.slice(0, 300)}`;
}

// ------------------------------------------------------------------------------------------ reporting

/** A case in one short line: long strings are cut, byte arrays shown by length. */
export function describeCase(c: unknown, max = 600): string {
  const text = JSON.stringify(c, (_k, v) => {
    if (typeof v === "string" && v.length > 300) return `${v.slice(0, 200)}…(${v.length} chars)`;
    if (v instanceof Uint8Array) return `<${v.length} bytes>`;
    return v;
  });
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Failures grouped by what went wrong, each with a count and its first case. */
export class FailureLog {
  readonly groups = new Map<string, { count: number; problem: string; example: string }>();
  total = 0;

  add(problem: string, c: unknown): void {
    this.total++;
    const key = problem.replace(/\d+/g, "N").slice(0, 160);
    const g = this.groups.get(key);
    if (g) g.count++;
    else this.groups.set(key, { count: 1, problem: problem.slice(0, 300), example: describeCase(c) });
  }

  /** One line per kind of failure (empty when there was none). */
  summary(): string[] {
    return [...this.groups.values()].map((g) => `${g.count}× ${g.problem}\n    e.g. ${g.example}`);
  }
}
