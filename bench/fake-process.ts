/** Helpers shared by the benches that run the fake Feishu in its own process (send, media). */
import { join } from "node:path";

export interface FakeProcess {
  url: string;
  appId: string;
  appSecret: string;
  stop(): Promise<void>;
}

/** `test/fakes/feishu-main.ts` on 127.0.0.1, its own process so it does not share our CPU. */
export async function startFakeProcess(): Promise<FakeProcess> {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "../test/fakes/feishu-main.ts"), "--port", "0"], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const info = JSON.parse(await firstLine(proc.stdout)) as Omit<FakeProcess, "stop">;
  return {
    ...info,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

export async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!text.includes("\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  if (!text.includes("\n")) throw new Error("the fake Feishu did not start");
  return text.slice(0, text.indexOf("\n"));
}

export async function tenantToken(fake: Pick<FakeProcess, "url" | "appId" | "appSecret">): Promise<string> {
  const res = await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }),
  });
  return ((await res.json()) as { tenant_access_token: string }).tenant_access_token;
}

/** Runs `fn` once to warm up, then `n` times; the durations in ms. */
export async function timed(n: number, fn: () => Promise<void>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
