import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import {
  EventParseError,
  eventTypeLabel,
  type FeishuEvent,
  MAX_ID_LENGTH,
  parseEvent,
  toInbound,
  unflattenSdkEvent,
} from "../../src/feishu/event-parser.ts";
import { InboundMessage } from "../../src/relay/protocol.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/feishu");
const BOT = "ou_7d8a6e6df7621556ce0d21922b676706";
const readJson = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));
const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith(".json") && !f.endsWith(".expected.json"));

function message(event: FeishuEvent) {
  if (event.kind !== "message") throw new Error(`expected a message event, got ${event.kind}`);
  return event;
}

describe("fixtures: real-shaped pushes → the plugin's message", () => {
  test("there are fixtures", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
  });

  for (const file of fixtures) {
    test(file, () => {
      const event = message(parseEvent(readJson(file)));
      const actual = {
        eventId: event.meta.eventId,
        schema: event.meta.schema,
        senderType: event.senderType,
        message: toInbound(event.message, BOT),
      };
      expect(actual).toEqual(readJson(file.replace(/\.json$/, ".expected.json")));
      expect(Value.Check(InboundMessage, actual.message)).toBe(true);
    });
  }
});

describe("envelopes", () => {
  const v2 = readJson("text-p2p.json");

  test("url_verification is a challenge with its token", () => {
    expect(parseEvent({ challenge: "c-1", token: "t", type: "url_verification" })).toEqual({
      kind: "challenge",
      challenge: "c-1",
      token: "t",
    });
  });

  test("other event types are recognised but not parsed further", () => {
    const event = parseEvent({
      schema: "2.0",
      header: { event_id: "e1", event_type: "im.chat.updated_v1", token: "t" },
      event: { chat_id: "oc_1" },
    });
    expect(event).toEqual({
      kind: "other",
      meta: {
        eventId: "e1",
        eventType: "im.chat.updated_v1",
        token: "t",
        schema: "v2",
      },
    });
    const v1 = parseEvent({
      uuid: "u1",
      token: "t",
      type: "event_callback",
      event: { type: "p2p_chat_create" },
    });
    expect(v1).toMatchObject({
      kind: "other",
      meta: { eventId: "u1", eventType: "p2p_chat_create", schema: "v1" },
    });
  });

  test("ids of exactly 128 characters are accepted", () => {
    const env = structuredClone(v2);
    env.header.event_id = "e".repeat(MAX_ID_LENGTH);
    env.event.message.message_id = `om_${"x".repeat(MAX_ID_LENGTH - 3)}`;
    expect(message(parseEvent(env)).meta.eventId).toHaveLength(MAX_ID_LENGTH);
  });

  test("the metric label of an unknown event type is `other`", () => {
    const label = eventTypeLabel;
    expect(label(message(parseEvent(v2)).meta.eventType)).toBe("im.message.receive_v1");
    expect(label("im.chat.member.bot.added_v1")).toBe("im.chat.member.bot.added_v1");
    expect(label("made.up.type_42")).toBe("other");
  });

  test("a bot sender is parsed (and dropped later by type) even without an open_id", () => {
    const env = structuredClone(v2);
    env.event.sender = { sender_id: {}, sender_type: "app", tenant_key: "x" };
    const event = message(parseEvent(env));
    expect(event.senderType).toBe("app");
    expect(event.message.sender.openId).toBe("");
  });

  /** Deletes (or replaces) the value at a dotted path of a copy of the v2 fixture. */
  const edited = (path: string, value?: unknown) => {
    const env = structuredClone(v2);
    const keys = path.split(".");
    const last = keys.pop()!;
    const parent = keys.reduce((o, k) => o[k] as Record<string, unknown>, env as Record<string, unknown>);
    if (value === undefined) delete parent[last];
    else parent[last] = value;
    return env;
  };
  const broken: Array<[string, unknown]> = [
    ["not an object", "hello"],
    ["null", null],
    ["no header or uuid", { event: {} }],
    ["header without event_id", edited("header.event_id")],
    ["header without event_type", edited("header.event_type")],
    ["no event", edited("event")],
    ["event without message", edited("event.message")],
    ["event without sender", edited("event.sender")],
    ["user sender without open_id", edited("event.sender.sender_id.open_id")],
    ["message without message_id", edited("event.message.message_id")],
    ["message without chat_id", edited("event.message.chat_id")],
    ["message with numeric content", edited("event.message.content", 5)],
    ["challenge without challenge", { type: "url_verification", token: "t" }],
    ["event_id over 128 characters", edited("header.event_id", "e".repeat(MAX_ID_LENGTH + 1))],
    ["event_type over 128 characters", edited("header.event_type", "t".repeat(MAX_ID_LENGTH + 1))],
    ["message_id over 128 characters", edited("event.message.message_id", `om_${"x".repeat(MAX_ID_LENGTH)}`)],
    ["chat_id over 128 characters", edited("event.message.chat_id", `oc_${"x".repeat(MAX_ID_LENGTH)}`)],
    [
      "open_id over 128 characters",
      edited("event.sender.sender_id.open_id", `ou_${"x".repeat(MAX_ID_LENGTH)}`),
    ],
    ["root_id over 128 characters", edited("event.message.root_id", `om_${"x".repeat(MAX_ID_LENGTH)}`)],
    ["v1 uuid over 128 characters", { uuid: "u".repeat(MAX_ID_LENGTH + 1), event: { type: "message" } }],
  ];
  for (const [name, body] of broken) {
    test(`invalid_event: ${name}`, () => {
      expect(() => parseEvent(body)).toThrow(EventParseError);
    });
  }

  test("the SDK's flattened event is put back into a v2 envelope", () => {
    const flat = { schema: "2.0", ...v2.header, ...v2.event };
    expect(unflattenSdkEvent(flat)).toEqual(v2);
  });

  test("create_time in µs or s is normalised to ms; garbage becomes 0", () => {
    const at = (create_time: unknown) => {
      const env = structuredClone(v2);
      env.event.message.create_time = create_time;
      return message(parseEvent(env)).message.createTime;
    };
    expect(at("1609073151345")).toBe(1609073151345);
    expect(at("1609073151345123")).toBe(1609073151345);
    expect(at("1609073151")).toBe(1609073151000);
    expect(at("soon")).toBe(0);
    expect(at(undefined)).toBe(0);
  });

  test("mentionedBot needs the bot's open_id", () => {
    const event = message(parseEvent(readJson("text-group-mentions.json")));
    expect(toInbound(event.message, BOT).mentionedBot).toBe(true);
    expect(toInbound(event.message, "ou_someone_else").mentionedBot).toBe(false);
    expect(toInbound(event.message, undefined).mentionedBot).toBe(false);
    expect(toInbound(event.message, "").mentionedBot).toBe(false);
  });
});

describe("the bot's mention in text (M2-4)", () => {
  test("toInbound leaves the bot's mention out of text only; mentions keep it", () => {
    const event = message(parseEvent(readJson("text-group-mentions.json")));
    const seen = toInbound(event.message, BOT);
    expect(seen.text).toBe("please ask @Tom about it @all @_user_9");
    expect(seen.mentions.map((m) => m.name)).toEqual(["Relay Bot", "Tom"]);
    // Not knowing the bot (or another bot's id): nothing is left out.
    expect(toInbound(event.message, undefined).text).toBe(
      "@Relay Bot please ask @Tom about it @all @_user_9",
    );
    expect(toInbound(event.message, "ou_other").text).toBe(
      "@Relay Bot please ask @Tom about it @all @_user_9",
    );
  });
});

describe("bot added to / removed from a group (M2-4)", () => {
  const envelope = (type: string, event: Record<string, unknown>) => ({
    schema: "2.0",
    header: { event_id: "e-bot", event_type: type, token: "t" },
    event,
  });
  const operator = { union_id: "on_1", user_id: "u1", open_id: "ou_operator" };

  test("both events parse to the chat and the operator's open_id", () => {
    const added = parseEvent(
      envelope("im.chat.member.bot.added_v1", {
        chat_id: "oc_team",
        operator_id: operator,
        external: false,
        operator_tenant_key: "tk",
        name: "Team",
        i18n_names: { zh_cn: "Team" },
      }),
    );
    expect(added).toEqual({
      kind: "membership",
      meta: { eventId: "e-bot", eventType: "im.chat.member.bot.added_v1", token: "t", schema: "v2" },
      membership: { change: "added", chatId: "oc_team", operatorOpenId: "ou_operator" },
    });
    const removed = parseEvent(
      envelope("im.chat.member.bot.deleted_v1", { chat_id: "oc_team", operator_id: operator }),
    );
    expect(removed).toMatchObject({
      kind: "membership",
      membership: { change: "removed", chatId: "oc_team" },
    });
  });

  test("the operator may be missing; the chat may not", () => {
    expect(parseEvent(envelope("im.chat.member.bot.deleted_v1", { chat_id: "oc_team" }))).toMatchObject({
      membership: { change: "removed", chatId: "oc_team" },
    });
    expect(() => parseEvent(envelope("im.chat.member.bot.added_v1", { operator_id: operator }))).toThrow(
      EventParseError,
    );
  });
});
