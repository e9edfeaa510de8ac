import { afterEach, describe, expect, test } from "bun:test";
import {
  offlineNoticeText,
  onboardingText,
  shouldNotifyOffline,
  shouldOnboard,
} from "../../src/users/onboarding.ts";
import { type TestRelay, testRelay } from "./helpers.ts";

let relay: TestRelay;
afterEach(() => relay?.cleanup());

describe("onboarding notices", () => {
  test("an unknown sender is onboarded at most once per 10 minutes", async () => {
    relay = await testRelay();
    const ctx = relay.ctx;
    expect(await shouldOnboard(ctx, "ou_new")).toBe(true);
    expect(await shouldOnboard(ctx, "ou_new")).toBe(false);
    expect(await shouldOnboard(ctx, "ou_other")).toBe(true);
    relay.clock.t += 9 * 60_000;
    expect(await shouldOnboard(ctx, "ou_new")).toBe(false);
    relay.clock.t += 60_000;
    expect(await shouldOnboard(ctx, "ou_new")).toBe(true);
  });

  test("an offline user is told at most once per hour", async () => {
    relay = await testRelay();
    const ctx = relay.ctx;
    expect(await shouldNotifyOffline(ctx, 1)).toBe(true);
    relay.clock.t += 59 * 60_000;
    expect(await shouldNotifyOffline(ctx, 1)).toBe(false);
    expect(await shouldNotifyOffline(ctx, 2)).toBe(true);
    relay.clock.t += 60_000;
    expect(await shouldNotifyOffline(ctx, 1)).toBe(true);
  });

  test("texts are Chinese first, then English, with the sign-in link", async () => {
    const text = onboardingText("https://relay.example");
    expect(text).toContain("https://relay.example/login");
    expect(text.indexOf("你好")).toBeLessThan(text.indexOf("Hi!"));
    const offline = offlineNoticeText();
    expect(offline.indexOf("不在线")).toBeLessThan(offline.indexOf("offline"));
  });
});
