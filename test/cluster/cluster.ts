/**
 * A 3-node cluster for black-box tests: three relay processes (`bun src/index.ts serve`) on one fresh
 * PostgreSQL database, each on its own port of 127.0.0.1, sharing one fake Feishu. Nodes can be
 * killed (`kill -9`) and started again under the same NODE_ID. Tests using it run whenever PostgreSQL
 * answers and are skipped otherwise (`clusterDescribe`).
 */
import { describe } from "bun:test";
import { createUser, type RelayProcess, startRelayProcess } from "../e2e/relay-process.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { freshPostgresUrl, postgresReachable } from "../storage/databases.ts";

export const CLUSTER_ADMIN = "cluster-test-admin-token-0123";

const pgUp = await postgresReachable();
/** `describe` when a PostgreSQL server answers, `describe.skip` (saying why) otherwise. */
export const clusterDescribe = (name: string, body: () => void) =>
  pgUp ? describe(name, body) : describe.skip(`${name} (no PostgreSQL)`, body);

export class Cluster {
  readonly nodes: Array<RelayProcess | undefined>;

  private constructor(
    readonly url: string,
    readonly feishu: FakeFeishu,
    private readonly env: Record<string, string>,
    private readonly drop: () => Promise<void>,
    size: number,
  ) {
    this.nodes = new Array(size).fill(undefined);
  }

  static async start(size = 3, env: Record<string, string> = {}): Promise<Cluster> {
    const { url, drop } = await freshPostgresUrl();
    const feishu = await startFakeFeishu();
    const cluster = new Cluster(
      url,
      feishu,
      {
        DATABASE_URL: url,
        ADMIN_TOKEN: CLUSTER_ADMIN,
        FEISHU_APP_ID: feishu.appId,
        FEISHU_APP_SECRET: feishu.appSecret,
        FEISHU_DOMAIN: feishu.url,
        LOG_LEVEL: "warn",
        ...env,
      },
      drop,
      size,
    );
    try {
      // One after the other: migrations and the first tenant token are the cluster's, not each node's.
      for (let i = 0; i < size; i++) await cluster.startNode(i);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  nodeId(i: number): string {
    return `node-${i + 1}`;
  }

  /** The running node `i` (0-based); throws when it is down. */
  node(i: number): RelayProcess {
    const n = this.nodes[i];
    if (!n) throw new Error(`${this.nodeId(i)} is not running`);
    return n;
  }

  async startNode(i: number): Promise<RelayProcess> {
    // relay_listening is an info line: the harness reads the port from it whatever LOG_LEVEL says.
    const n = await startRelayProcess({ ...this.env, LOG_LEVEL: "info", NODE_ID: this.nodeId(i) });
    this.nodes[i] = n;
    return n;
  }

  /** `kill -9`: no shutdown hook runs; the node's sockets drop and its row stays until it ages out. */
  async kill(i: number): Promise<void> {
    const n = this.node(i);
    this.nodes[i] = undefined;
    await n.stop("SIGKILL");
  }

  /** A graceful stop (SIGTERM): sockets closed with 1012, the node leaves the registry. */
  async stopNode(i: number): Promise<number> {
    const n = this.node(i);
    this.nodes[i] = undefined;
    return n.stop("SIGTERM");
  }

  /** A relay user and its plugin token, created through node `via`'s admin API. */
  async user(openId: string, via = 0): Promise<string> {
    return createUser(this.node(via).base, CLUSTER_ADMIN, openId, openId);
  }

  /** A Feishu message event for `openId` pushed to node `i`'s webhook; its message id and status. */
  async webhook(i: number, openId: string, text: string, messageId?: string) {
    const envelope = this.feishu.messageEvent({
      senderOpenId: openId,
      text,
      ...(messageId ? { messageId } : {}),
    });
    const res = await this.feishu.pushEvent(`${this.node(i).base}/api/feishu/webhook`, envelope);
    const id = (envelope.event as { message: { message_id: string } }).message.message_id;
    return { status: res.status, messageId: id, envelope };
  }

  /** Pushes an already-built envelope again (Feishu's re-push), to node `i`. */
  async repush(i: number, envelope: Parameters<FakeFeishu["pushEvent"]>[1]) {
    return (await this.feishu.pushEvent(`${this.node(i).base}/api/feishu/webhook`, envelope)).status;
  }

  async admin(i: number, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.node(i).base}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${CLUSTER_ADMIN}`,
        "content-type": "application/json",
        ...init.headers,
      },
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n, i) => {
        this.nodes[i] = undefined;
        if (n) await n.stop("SIGTERM").catch(() => n.proc.kill("SIGKILL"));
      }),
    );
    await this.feishu.stop();
    await this.drop();
  }
}
