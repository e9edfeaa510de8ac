/**
 * What the frame fuzzer expects: the contract's own reading of a plugin frame (DESIGN §4) and the
 * verdict on the frames the relay answered with.
 */
import { Value } from "@sinclair/typebox/value";
import { ClientFrame, parseServerFrame, type SendRequest } from "../../src/relay/protocol.ts";
import { sendProblem } from "../../src/relay/send-service.ts";
import type { FrameCase } from "./arbitraries.ts";

/** True when the relay must handle the frame as valid (never throws, whatever the text). */
export function isValidClientFrame(text: string): boolean {
  try {
    const data = JSON.parse(text) as { type?: unknown };
    if (!Value.Check(ClientFrame, data)) return false;
    return data.type !== "send" || sendProblem(data as SendRequest) === undefined;
  } catch {
    return false;
  }
}

/** Why the answers to one fuzzed frame break the contract, or undefined when they do not. */
export function frameVerdict(
  c: FrameCase,
  valid: boolean,
  answers: Array<Record<string, unknown>>,
): string | undefined {
  for (const f of answers) {
    const text = JSON.stringify(f);
    if (!parseServerFrame(text).ok) return `invalid server frame: ${text.slice(0, 200)}`;
  }
  const validBinary = c.kind === "binary" && isValidClientFrame(new TextDecoder().decode(c.bytes));
  if (valid || validBinary) return undefined;
  if (answers.some((f) => f.type === "error" && f.code === "bad_frame")) return undefined;
  const seen = answers.map((f) => `${f.type}${f.code ? `:${f.code}` : ""}`).join(",");
  return `malformed ${c.kind} frame not answered with bad_frame (got: ${seen || "nothing"})`;
}
