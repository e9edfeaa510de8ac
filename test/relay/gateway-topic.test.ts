/**
 * What delivery through the user's topic relies on in Bun (connection.ts): a frame published on a
 * socket's topic and a frame sent on the socket itself leave in the order they were written, corked
 * or not, and `publish` answers for a lone subscriber as `send` does (bytes, -1 backpressure).
 */
import { expect, test } from "bun:test";
import { connect as netConnect } from "node:net";

test("published and directly sent frames reach the client in the order they were written", async () => {
  let write: (() => void) | undefined;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open(ws) {
        ws.subscribe("user:1");
        write = () => {
          for (let i = 0; i < 20; i += 2) {
            server.publish("user:1", String(i));
            ws.send(String(i + 1));
          }
          ws.cork(() => {
            for (let i = 20; i < 40; i += 2) {
              server.publish("user:1", String(i));
              ws.send(String(i + 1));
            }
          });
        };
      },
      message() {},
    },
  });
  try {
    const c = new WebSocket(`ws://127.0.0.1:${server.port}`);
    const got: number[] = [];
    const all = new Promise<void>((resolve) => {
      c.onmessage = (e) => {
        got.push(Number(e.data));
        if (got.length === 40) resolve();
      };
    });
    await new Promise((r) => (c.onopen = r));
    while (!write) await Bun.sleep(1);
    write();
    await all;
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
    c.close();
  } finally {
    server.stop(true);
  }
});

test("publish to a lone subscriber answers bytes, then -1 once its client stops reading", async () => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: { open: (ws) => void ws.subscribe("user:2"), message() {} },
  });
  const sock = netConnect(server.port ?? 0, "127.0.0.1");
  try {
    sock.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    while (server.subscriberCount("user:2") === 0) await Bun.sleep(5);
    sock.pause(); // a client that does not read: the server's buffer fills
    const big = "x".repeat(64 * 1024);
    expect(server.publish("user:2", big)).toBe(big.length);
    const answers: number[] = [];
    for (let i = 0; i < 400 && !answers.includes(-1); i++) answers.push(server.publish("user:2", big));
    expect(answers).toContain(-1);
    expect(server.publish("nobody", "x")).toBe(0);
  } finally {
    sock.destroy();
    server.stop(true);
  }
});
