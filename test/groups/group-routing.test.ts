import { describe, expect, test } from "bun:test";
import { groupCommand, routeMessage } from "../../src/groups/group-routing.ts";

const alice = { id: 1 };
const group = (text: string, mentionedBot = true) => ({ chatType: "group" as const, mentionedBot, text });
const bound = { ownerUserId: 7, requireMention: true };
const everyMessage = { ownerUserId: 7, requireMention: false };

describe("routing", () => {
  test("a direct message goes to its sender's agent, or earns the sign-in hint", () => {
    const dm = { chatType: "p2p" as const, mentionedBot: false, text: "/bind" };
    expect(routeMessage(dm, undefined, alice)).toEqual({ kind: "deliver", userId: 1, boundChat: false });
    expect(routeMessage(dm, undefined, undefined)).toEqual({ kind: "unknown_sender" });
  });

  test("an unbound group keeps the M1 routing: mention needed, each sender's own agent", () => {
    expect(routeMessage(group("hi", false), undefined, alice)).toEqual({ kind: "not_mentioned" });
    expect(routeMessage(group("hi"), undefined, alice)).toEqual({
      kind: "deliver",
      userId: 1,
      boundChat: false,
    });
    expect(routeMessage(group("hi"), undefined, undefined)).toEqual({ kind: "unknown_sender" });
  });

  test("a bound group goes to the owner whoever sent it, registered or not", () => {
    const toOwner = { kind: "deliver" as const, userId: 7, boundChat: true };
    expect(routeMessage(group("hi"), bound, alice)).toEqual(toOwner);
    expect(routeMessage(group("hi"), bound, undefined)).toEqual(toOwner);
    expect(routeMessage(group("hi", false), bound, alice)).toEqual({ kind: "not_mentioned" });
    expect(routeMessage(group("hi", false), everyMessage, undefined)).toEqual(toOwner);
  });

  test("@Bot /bind and /unbind are commands in any group, only with the mention", () => {
    for (const binding of [undefined, bound, everyMessage]) {
      expect(routeMessage(group(" /BIND "), binding, undefined)).toEqual({
        kind: "command",
        command: "bind",
      });
      expect(routeMessage(group("/unbind"), binding, alice)).toEqual({ kind: "command", command: "unbind" });
    }
    expect(routeMessage(group("/bind", false), everyMessage, alice)).toMatchObject({ kind: "deliver" });
  });

  test("only the command alone counts", () => {
    expect(groupCommand("/bind")).toBe("bind");
    expect(groupCommand("\t/Unbind\n")).toBe("unbind");
    expect(groupCommand("/bind me")).toBeUndefined();
    expect(groupCommand("please /bind")).toBeUndefined();
    expect(groupCommand("/binding")).toBeUndefined();
  });
});

test("without group support (commands off) @Bot /bind is an ordinary message", () => {
  expect(routeMessage(group("/bind"), undefined, alice, false)).toEqual({
    kind: "deliver",
    userId: 1,
    boundChat: false,
  });
});
