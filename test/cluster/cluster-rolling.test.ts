/**
 * A rolling restart of a 3-node cluster under load: plugins spread over the nodes, webhooks arriving
 * on whichever nodes are up, each node stopped (SIGTERM) and started again in turn. Every accepted
 * message reaches its plugin and no message the plugin acked comes again. CLUSTER_PLUGINS sets the
 * number of plugins (the figure is 1,000; the default keeps the suite quick).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Cluster, clusterDescribe } from "./cluster.ts";
import { waitFor } from "./wait.ts";

const PLUGINS = Number(process.env.CLUSTER_PLUGINS ?? 45);

let cluster: Cluster;

/** A plugin as the real one behaves: acks every message, reconnects to another node when closed. */
class SimPlugin {
  acked = 0;
  readonly received = new Set<string>();
  ackedRedelivered = 0;
  connects = 0;
  #ws: WebSocket | undefined;
  #stopped = false;
  open = false;

  constructor(
    readonly openId: string,
    readonly token: string,
    private node: number,
  ) {}

  connect(): void {
    const n = this.#pick();
    if (n === undefined) {
      setTimeout(() => this.connect(), 50);
      return;
    }
    this.connects++;
    const ws = new WebSocket(`${cluster.node(n).ws}?token=${encodeURIComponent(this.token)}`);
    this.#ws = ws;
    ws.onmessage = (e) => {
      const f = JSON.parse(String(e.data)) as { type: string; seq?: number; messageId?: string };
      if (f.type === "hello") this.open = true;
      if (f.type !== "message" || f.seq === undefined) return;
      if (f.seq <= this.acked) this.ackedRedelivered++;
      this.received.add(f.messageId ?? "");
      this.acked = Math.max(this.acked, f.seq);
      ws.send(JSON.stringify({ type: "ack", seq: f.seq }));
    };
    ws.onclose = () => {
      this.open = false;
      if (this.#stopped) return;
      // The next node round the ring, as a load balancer would pick another backend.
      this.node = (n + 1) % 3;
      setTimeout(() => this.connect(), 20 + Math.random() * 80);
    };
  }

  /** The first running node from the preferred one on. */
  #pick(): number | undefined {
    for (let k = 0; k < 3; k++) {
      const i = (this.node + k) % 3;
      if (cluster.nodes[i]) return i;
    }
    return undefined;
  }

  close(): void {
    this.#stopped = true;
    this.#ws?.close();
  }
}

clusterDescribe("3-node cluster: rolling restart", () => {
  const plugins: SimPlugin[] = [];
  beforeAll(async () => {
    cluster = await Cluster.start(3);
  }, 60_000);
  afterAll(async () => {
    for (const p of plugins) p.close();
    await cluster?.close();
  });

  test(`${PLUGINS} plugins over 3 nodes, each node restarted in turn: 0 lost, 0 acked redelivered`, async () => {
    for (let i = 0; i < PLUGINS; i++) {
      const openId = `ou_roll_${i}`;
      plugins.push(new SimPlugin(openId, await cluster.user(openId, i % 3), i % 3));
    }
    for (const p of plugins) p.connect();
    await waitFor(() => plugins.every((p) => p.open), "every plugin connected", 20_000);

    const accepted = new Map<string, SimPlugin>();
    let pushing = true;
    const pusher = (async () => {
      for (let i = 0; pushing; i++) {
        const p = plugins[i % plugins.length]!;
        const up = [0, 1, 2].filter((n) => cluster.nodes[n]);
        const node = up[i % up.length];
        if (node === undefined) continue;
        const r = await cluster.webhook(node, p.openId, `m${i}`).catch(() => undefined);
        if (r?.status === 200) accepted.set(r.messageId, p);
      }
    })();

    for (let n = 0; n < 3; n++) {
      const before = accepted.size;
      await waitFor(() => accepted.size >= before + 20, "webhooks flowing", 10_000);
      expect(await cluster.stopNode(n)).toBe(0);
      await cluster.startNode(n);
      await waitFor(() => plugins.every((p) => p.open), "every plugin reconnected", 20_000);
    }
    const last = accepted.size;
    await waitFor(() => accepted.size >= last + 20, "webhooks after the last restart", 10_000);
    pushing = false;
    await pusher;

    await waitFor(
      () => [...accepted].every(([id, p]) => p.received.has(id)),
      "every accepted message delivered",
      20_000,
    );
    const lost = [...accepted].filter(([id, p]) => !p.received.has(id)).length;
    const redelivered = plugins.reduce((n, p) => n + p.ackedRedelivered, 0);
    const reconnects = plugins.reduce((n, p) => n + p.connects, 0) - plugins.length;
    console.log(
      `rolling restart: ${PLUGINS} plugins, ${accepted.size} messages accepted, ${lost} lost, ${redelivered} acked redelivered, ${reconnects} reconnects`,
    );
    expect(lost).toBe(0);
    expect(redelivered).toBe(0);
  }, 120_000);
});
