/**
 * Property-based fuzzing of `POST /api/feishu/webhook`, plaintext (token) and encrypted + signed: every
 * answer is 2xx or 4xx/503 with `{"error":{"code","message"}}` (never 500, never a hang), every valid
 * event among the cases is delivered to the owner's real plugin socket, and a fresh valid event after
 * the run still is.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import {
  answerProblem,
  buildWebhookRequest,
  FailureLog,
  type WebhookCase,
  webhookCaseArb,
} from "./arbitraries.ts";
import {
  deliveredIds,
  deliverFreshEvent,
  FUZZ_RUNS,
  FUZZ_SEED,
  type FuzzRelay,
  fuzzRelay,
  lastHttpError,
  post,
} from "./harness.ts";

const KEY = "fuzz-encrypt-key";
const companionCase: WebhookCase = {
  body: { kind: "valid", text: "sent alongside a fuzzed push" },
  layer: { kind: "ok" },
  iv: new Uint8Array(16),
  nonce: "companion",
  padTo: null,
  contentType: null,
};
let fake: FakeFeishu;
beforeAll(async () => {
  fake = await startFakeFeishu();
});
afterAll(() => fake.stop());

for (const mode of ["plaintext", "encrypted"] as const) {
  describe(`webhook fuzz (${mode})`, () => {
    let r: FuzzRelay;
    beforeAll(async () => {
      r = await fuzzRelay(fake, mode === "encrypted" ? { FEISHU_ENCRYPT_KEY: KEY } : {}, false);
    });
    afterAll(() => r.close());

    test(`${FUZZ_RUNS} fuzzed pushes: valid answers only, valid events delivered`, async () => {
      const accepted: string[] = [];
      // Every case runs and every failure is recorded, so one run shows each kind of defect at once.
      const failures = new FailureLog();
      await fc.assert(
        fc.asyncProperty(webhookCaseArb(), async (c) => {
          const built = buildWebhookRequest(r.env(), c);
          // A valid event sent at the same time lands in the same group commit as a fuzzed message:
          // bad input must not take it down too.
          const companion =
            c.body.kind === "message" ? buildWebhookRequest(r.env(), companionCase) : undefined;
          let answer: { status: number; text: string };
          let companionAnswer: { status: number; text: string } | undefined;
          try {
            [answer, companionAnswer] = await Promise.all([
              post(r, "/api/feishu/webhook", built.body, built.headers),
              companion && post(r, "/api/feishu/webhook", companion.body, companion.headers),
            ]);
          } catch (err) {
            return failures.add(`no answer: ${err}`, c);
          }
          if (companion?.validMessageId && companionAnswer) {
            if (companionAnswer.status === 200) accepted.push(companion.validMessageId);
            else
              failures.add(
                `a valid event sent alongside was refused: ${companionAnswer.status} (${lastHttpError(r)})`,
                c,
              );
          }
          const problem = answerProblem(answer.status, answer.text);
          if (problem)
            return failures.add(answer.status === 500 ? `${problem} (${lastHttpError(r)})` : problem, c);
          if (!built.validMessageId) return;
          if (answer.status === 200) accepted.push(built.validMessageId);
          else failures.add(`valid event refused: ${answer.status} ${answer.text.slice(0, 200)}`, c);
        }),
        { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
      );
      expect(failures.summary()).toEqual([]);
      expect(accepted.length).toBeGreaterThan(50);
      // A fresh event after the run: delivered in seq order, so every accepted one came before it.
      await deliverFreshEvent(r);
      const delivered = deliveredIds(r.plugin);
      expect(accepted.filter((id) => !delivered.has(id))).toEqual([]);
      // A client-chosen value (a 100 KB event_type) must not become a metric label.
      const metrics = await (await fetch(`${r.relay.http}/metrics`)).text();
      const longLines = metrics.split("\n").filter((l) => l.length > 1024);
      expect(longLines.map((l) => `${l.slice(0, 80)}… (${l.length} chars)`)).toEqual([]);
    });
  });
}
