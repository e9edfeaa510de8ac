/**
 * The hub's cluster behaviour against a scripted signal bus with PostgreSQL's semantics: one order of
 * delivery for every node (commit order), each node receiving its own signals back. The test decides
 * when signals are delivered (and may deliver them out of order or lose them), and the clock, so the
 * races of two nodes are played out step by step.
 */
import { describe, expect, test } from "bun:test";
import type { Signal, SignalHandler, Signals } from "../../src/cluster/signals.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { PluginConnection, type SocketLike, type TopicPublisher } from "../../src/relay/connection.ts";
import { Hub } from "../../src/relay/hub.ts";
import type { Inbox, StoredMessage } from "../../src/relay/inbox.ts";
import { CloseCode } from "../../src/relay/protocol.ts";

class Bus {
  readonly queue: Array<{ from: string; signal: Signal }> = [];
  readonly members: Array<{ id: string; handlers: SignalHandler[]; resubscribed: Array<() => void> }> = [];
  join(id: string): Signals {
    const member = { id, handlers: [] as SignalHandler[], resubscribed: [] as Array<() => void> };
    this.members.push(member);
    return {
      shared: true,
      publish: async (signal) => {
        this.queue.push({ from: id, signal });
      },
      onSignal: (h) => member.handlers.push(h),
      onResubscribed: (h) => member.resubscribed.push(h),
      start: async () => {},
      stop: async () => {},
    };
  }
  /** Delivers everything queued, in one order (reversed: as if the later commit came first), to every node. */
  deliver(reversed = false): void {
    const batch = this.queue.splice(0);
    if (reversed) batch.reverse();
    for (const { from, signal } of batch)
      for (const m of this.members) for (const h of m.handlers) h(signal, m.id === from);
  }
}

/** Just what the hub and a connection use of the inbox; counts reads. */
function fakeInbox() {
  const stored: Array<(s: StoredMessage[]) => void> = [];
  const released: Array<(userId: number) => void> = [];
  const reads: number[] = [];
  const inbox = {
    onStored: (l: (s: StoredMessage[]) => void) => stored.push(l),
    onReleased: (l: (userId: number) => void) => released.push(l),
    pending: (userId: number) => {
      reads.push(userId);
      return [];
    },
    ack() {},
  } as unknown as Inbox;
  return { inbox, reads, commit: (s: StoredMessage[]) => stored.forEach((l) => void l(s)) };
}

function fakeSocket() {
  const closes: Array<{ code?: number; reason?: string }> = [];
  const sent: string[] = [];
  const topics = new Set<string>();
  const socket: SocketLike = {
    send: (d) => {
      sent.push(d);
      return d.length;
    },
    close: (code, reason) => void closes.push({ code, reason }),
    subscribe: (t) => !!topics.add(t),
    unsubscribe: (t) => void topics.delete(t),
  };
  return { socket, closes, sent, topics };
}

const clock = { t: 1_000 };

function node(bus: Bus, id: string) {
  const { inbox, reads, commit } = fakeInbox();
  const published: Array<{ topic: string; data: string }> = [];
  const topics: TopicPublisher = {
    publish(topic, data) {
      published.push({ topic, data });
      return data.length;
    },
  };
  const hub = new Hub(inbox, {
    nodeId: id,
    signals: bus.join(id),
    log: memoryLogger().log,
    now: () => clock.t,
  });
  let n = 0;
  const connect = (userId = 1) => {
    const s = fakeSocket();
    const conn = new PluginConnection(
      s.socket,
      { id: userId, openId: `ou_${userId}`, name: "", tokenVersion: 1 },
      `${id}-s${++n}`,
      false,
      inbox,
      { delivered() {} },
      0,
      topics,
    );
    clock.t++;
    hub.register(conn);
    return { conn, ...s };
  };
  return { hub, connect, reads, commit, published };
}

const stored = (userId: number, seq: number): StoredMessage =>
  ({ userId, seq, payload: `{"messageId":"om_${seq}"}`, receivedAt: 0 }) as unknown as StoredMessage;

describe("hub in a cluster", () => {
  test("a connection on node B replaces the one on node A: 4002 on A, exactly once; B's stays", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    const onA = a.connect();
    bus.deliver();
    const onB = b.connect();
    bus.deliver();
    bus.deliver();
    expect(onA.closes).toEqual([{ code: CloseCode.replaced, reason: "replaced by a newer connection" }]);
    expect(onB.closes).toEqual([]);
    expect(a.hub.isConnected(1)).toBe(false);
    expect(b.hub.get(1)).toBe(onB.conn);
  });

  test("two nodes connecting the same user at once: the later connection stays, whatever order the signals arrive in", () => {
    for (const reversed of [false, true]) {
      const bus = new Bus();
      const a = node(bus, "A");
      const b = node(bus, "B");
      const onA = a.connect();
      const onB = b.connect(); // both registered before either signal is delivered; B's is later
      bus.deliver(reversed);
      expect(onA.closes.map((c) => c.code)).toEqual([CloseCode.replaced]);
      expect(onB.closes).toEqual([]);
      // A third connection, on A, later replaces B's.
      const again = a.connect();
      bus.deliver(reversed);
      expect(onB.closes.map((c) => c.code)).toEqual([CloseCode.replaced]);
      expect(again.closes).toEqual([]);
      expect(onA.closes).toHaveLength(1);
    }
  });

  test("connections registered in the same millisecond: the larger session id stays, on both nodes alike", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    const onA = a.connect(); // session "A-s1"
    clock.t--; // B's registration in the same millisecond
    const onB = b.connect(); // session "B-s1" > "A-s1"
    bus.deliver(true);
    expect(onA.closes.map((c) => c.code)).toEqual([CloseCode.replaced]);
    expect(onB.closes).toEqual([]);
  });

  test("a node ignores its own connected signal and other users' signals", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    const one = a.connect(1);
    const two = b.connect(2);
    bus.deliver();
    expect(one.closes).toEqual([]);
    expect(two.closes).toEqual([]);
  });

  test("revocation on node A closes the user's socket on node B with 4001", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    const onB = b.connect();
    bus.deliver();
    a.hub.revoke(1);
    bus.deliver();
    expect(onB.closes.map((c) => c.code)).toEqual([CloseCode.unauthorized]);
    expect(b.hub.isConnected(1)).toBe(false);
  });

  test("a commit on node A makes node B's connection read the inbox; A does not read again for its own", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    b.connect(5);
    bus.deliver();
    a.commit([stored(5, 1), stored(5, 2)]);
    bus.deliver();
    expect(b.reads).toEqual([5]);
    expect(a.reads).toEqual([]);
  });

  test("live frames of a caught-up connection go out on the user's topic; a closing socket leaves it", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const first = a.connect(3);
    expect([...first.topics]).toEqual(["user:3"]);
    a.commit([stored(3, 1)]);
    expect(a.published).toEqual([{ topic: "user:3", data: '{"type":"message","seq":1,"messageId":"om_1"}' }]);
    expect(first.sent).toEqual([]);
    // A gap (seq 3 after 1) is not written from memory: the connection reads the inbox instead.
    a.commit([stored(3, 3)]);
    expect(a.published).toHaveLength(1);
    expect(a.reads).toEqual([3]);
    const second = a.connect(3);
    expect(first.topics.size).toBe(0);
    expect([...second.topics]).toEqual(["user:3"]);
  });

  test("after the listener re-subscribes, local connections read the inbox and are announced again", () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const b = node(bus, "B");
    const onA = a.connect(1);
    a.connect(2);
    const onB = b.connect(1);
    bus.queue.splice(0); // every announcement so far is lost: A's socket for user 1 would stay forever
    for (const r of bus.members[0]!.resubscribed) r();
    for (const r of bus.members[1]!.resubscribed) r();
    expect(a.reads.sort()).toEqual([1, 2]);
    bus.deliver();
    expect(onA.closes.map((c) => c.code)).toEqual([CloseCode.replaced]);
    expect(onB.closes).toEqual([]);
  });

  test("drain (shutdown) stops sending and waits for the acks of what was sent, up to its deadline", async () => {
    const bus = new Bus();
    const a = node(bus, "A");
    const acking = a.connect(1);
    const silent = a.connect(2);
    a.commit([stored(1, 1), stored(2, 1)]);
    expect(a.published).toHaveLength(2);
    const t0 = performance.now();
    const drained = a.hub.drain(2000);
    expect(a.hub.closing).toBe(true);
    a.commit([stored(1, 2)]); // held: not sent, left for the next node to read
    expect(a.published).toHaveLength(2);
    acking.conn.ack(1);
    silent.conn.close(1000, "gone"); // a closed socket has nothing more to wait for
    await drained;
    expect(performance.now() - t0).toBeLessThan(500);

    const b = node(bus, "B");
    b.connect(3);
    b.commit([stored(3, 1)]);
    const t1 = performance.now();
    await b.hub.drain(150); // never acked: the deadline ends the wait
    expect(performance.now() - t1).toBeGreaterThanOrEqual(140);
  });
});
