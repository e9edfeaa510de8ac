/** A real WebSocket client for tests: collects frames, awaits the next matching one, records the close. */
import type { ServerFrame } from "../../src/relay/protocol.ts";

export interface TestClient {
  ws: WebSocket;
  frames: Array<Record<string, unknown>>;
  next(pred?: (f: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export function connect(
  url: string,
  opts: { token?: string; headers?: Record<string, string> } = {},
): TestClient {
  const headers: Record<string, string> = {
    "user-agent": "openclaw-feishu-relay-channel/1.0.0 openclaw/2026.9.6",
    ...opts.headers,
  };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  // Bun's WebSocket accepts headers, which browser-style clients cannot send.
  const ws = new WebSocket(url, { headers } as unknown as string[]);
  const frames: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    pred: (f: Record<string, unknown>) => boolean;
    resolve: (f: Record<string, unknown>) => void;
  }> = [];
  let cursor = 0;
  ws.onmessage = (e) => {
    const f = JSON.parse(String(e.data)) as Record<string, unknown>;
    frames.push(f);
    for (const w of [...waiters]) {
      if (w.pred(f)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(f);
        return;
      }
    }
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  return {
    ws,
    frames,
    closed,
    next(pred = () => true, timeoutMs = 3000) {
      // Frames already received and not yet consumed count first, in order.
      for (; cursor < frames.length; cursor++) {
        const f = frames[cursor]!;
        if (pred(f)) {
          cursor++;
          return Promise.resolve(f);
        }
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching frame within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (f) => {
            clearTimeout(timer);
            cursor = frames.length;
            resolve(f);
          },
        });
      });
    },
    send(frame) {
      const data = typeof frame === "string" ? frame : JSON.stringify(frame);
      if (ws.readyState === WebSocket.OPEN) ws.send(data);
      else ws.addEventListener("open", () => ws.send(data), { once: true });
    },
    close() {
      ws.close();
    },
  };
}

export const isType =
  (type: ServerFrame["type"] | string) =>
  (f: Record<string, unknown>): boolean =>
    f.type === type;
