/** Runs the real relay as a child process (`bun src/index.ts serve`) for crash and restart tests. */
import { join } from "node:path";
import type { Subprocess } from "bun";

const entry = join(import.meta.dir, "../../src/index.ts");

export interface RelayProcess {
  proc: Subprocess;
  port: number;
  base: string;
  ws: string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export async function startRelayProcess(env: Record<string, string>): Promise<RelayProcess> {
  const proc = Bun.spawn(["bun", entry, "serve"], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let buffered = "";
  let port = 0;
  const deadline = Date.now() + 10_000;
  while (!port && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += new TextDecoder().decode(value);
    const m = /"event":"relay_listening"[^\n]*"port":(\d+)/.exec(buffered);
    if (m) port = Number(m[1]);
  }
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error(`relay did not start:\n${buffered}`);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) return;
    }
  })();
  return {
    proc,
    port,
    base: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/openclaw`,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** Registers a user through the admin API of a running relay; answers the plugin token. */
export async function createUser(
  base: string,
  adminToken: string,
  openId: string,
  name: string = openId,
): Promise<string> {
  const res = await fetch(`${base}/api/admin/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ openId, name }),
  });
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`createUser: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
