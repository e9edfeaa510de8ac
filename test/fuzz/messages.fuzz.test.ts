/**
 * Property-based fuzzing of `POST /api/messages` with a valid Bearer token: every answer is a success
 * sent to the fake Feishu, or 4xx/503 with `{"error":{"code","message"}}`; never 500, never a hang.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { answerProblem, buildMessagesRequest, FailureLog, messagesCaseArb } from "./arbitraries.ts";
import {
  deliverFreshEvent,
  FUZZ_RUNS,
  FUZZ_SEED,
  lastHttpError,
  OWNER,
  post,
  useFuzzRelay,
} from "./harness.ts";

const r = await useFuzzRelay();

test(`${FUZZ_RUNS} fuzzed POST /api/messages bodies: success or a 4xx error answer`, async () => {
  const failures = new FailureLog();
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(messagesCaseArb(OWNER, { deepWeight: 3, slotDepth: 2_000 }), async (c) => {
      const { body, headers } = buildMessagesRequest(c, r.token);
      let answer: { status: number; text: string };
      try {
        answer = await post(r, "/api/messages", body, headers);
      } catch (err) {
        return failures.add(`no answer: ${err}`, c);
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const problem = answerProblem(answer.status, answer.text, true);
      if (problem)
        return failures.add(answer.status === 500 ? `${problem} (${lastHttpError(r)})` : problem, c);
      if (answer.status === 200 && !/"messageId":"om_/.test(answer.text))
        failures.add(`success without a Feishu message id: ${answer.text.slice(0, 200)}`, c);
    }),
    { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
  );
  expect(failures.summary()).toEqual([]);
  // Both outcomes were exercised: real sends to the fake Feishu and refusals.
  expect(statuses.get(200) ?? 0).toBeGreaterThan(50);
  expect([...statuses.keys()].some((s) => s >= 400 && s < 500)).toBe(true);
  await deliverFreshEvent(r);
  // Until deep and huge bodies are refused early, their 500s take about a second each.
}, 60_000);
