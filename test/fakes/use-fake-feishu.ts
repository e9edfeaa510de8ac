import { afterAll, beforeEach } from "bun:test";
import { type FakeFeishu, type FakeFeishuOptions, startFakeFeishu } from "./feishu.ts";

/** One fake Feishu for a test file: started now, reset before each test, stopped after the file. */
export async function useFakeFeishu(opts?: FakeFeishuOptions): Promise<FakeFeishu> {
  const fake = await startFakeFeishu(opts);
  beforeEach(() => fake.reset());
  afterAll(() => fake.stop());
  return fake;
}
