import { afterAll, beforeEach } from "bun:test";
import { type FakeFeishu, type FakeFeishuOptions, startFakeFeishu } from "./feishu.ts";

/** One fake Feishu for a test file: started now, reset before each test, stopped after the file. */
export async function useFakeFeishu(opts?: FakeFeishuOptions): Promise<FakeFeishu> {
  const fake = await startFakeFeishu(opts);
  beforeEach(() => fake.reset());
  afterAll(() => fake.stop());
  return fake;
}

/** A tenant token from the fake, as the relay gets one, for tests that call the fake directly. */
export async function tenantToken(fake: FakeFeishu): Promise<string> {
  const res = await fetch(`${fake.url}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app_id: fake.appId, app_secret: fake.appSecret }),
  });
  return ((await res.json()) as { tenant_access_token: string }).tenant_access_token;
}
