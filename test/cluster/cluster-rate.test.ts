/**
 * Feishu's app-wide send limit holds for the cluster, not per node: three relay processes sending at
 * once stay within FEISHU_RATE_APP together (shared budget rows in PostgreSQL, feishu/shared-budget.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Cluster, clusterDescribe } from "./cluster.ts";
import { waitFor } from "./wait.ts";

const RATE = 8;
const USERS = 6;
const PER_USER = 8;

let cluster: Cluster;

clusterDescribe("3-node cluster: Feishu's rate limit", () => {
  beforeAll(async () => {
    cluster = await Cluster.start(3, { FEISHU_RATE_APP: String(RATE), FEISHU_RATE_CHAT: "5" });
  }, 60_000);
  afterAll(() => cluster?.close());

  test(`${USERS * PER_USER} sends through 3 nodes at once: never more than ${RATE} in any second, all sent`, async () => {
    const users = await Promise.all(
      Array.from({ length: USERS }, async (_, i) => {
        const openId = `ou_rate_${i}`;
        const token = await cluster.user(openId, i % 3);
        const pushed = await cluster.webhook(i % 3, openId, `hello ${i}`);
        return { token, replyTo: pushed.messageId, node: i % 3 };
      }),
    );
    const started = Date.now();
    const answers = await Promise.all(
      users.flatMap((u, i) =>
        Array.from({ length: PER_USER }, (_, k) =>
          // Every user's sends spread over all three nodes.
          fetch(`${cluster.node((i + k) % 3).base}/api/messages`, {
            method: "POST",
            headers: { authorization: `Bearer ${u.token}`, "content-type": "application/json" },
            body: JSON.stringify({ replyTo: u.replyTo, text: `r ${i}.${k}`, uuid: `rate-${i}-${k}` }),
          }).then((r) => r.status),
        ),
      ),
    );
    expect(answers.every((s) => s === 200 || s === 202)).toBe(true);
    const ours = () => cluster.feishu.sent.filter((s) => s.text?.startsWith("r ") && s.at >= started);
    await waitFor(async () => ours().length === USERS * PER_USER, "every send to reach Feishu", 30_000);
    const times = ours()
      .map((s) => s.at)
      .sort((a, b) => a - b);
    // The busiest one-second window anywhere in the run.
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(RATE);
    // And the budget was used, not starved: 48 sends at 8/s take about 6 s, not much longer.
    expect(times.at(-1)! - times[0]!).toBeLessThan(((USERS * PER_USER) / RATE) * 1000 * 2.5);
  }, 60_000);
});
