/**
 * When the bot answers people on its own (DESIGN §5): an unknown sender gets one sign-in reply per
 * 10 minutes, a known user whose plugin is offline one "queued" notice per hour. Pure decisions over
 * kv marks (which survive restarts); the ingest path sends the texts through the Feishu sender.
 */
import type { Kv } from "../db/kv.ts";

export const ONBOARD_INTERVAL_MS = 10 * 60 * 1000;
export const OFFLINE_NOTICE_INTERVAL_MS = 60 * 60 * 1000;

/** What the decisions need of the relay context. */
export interface NoticeDeps {
  kv: Kv;
  now: () => number;
}

/** True when this unknown sender should get the sign-in reply now (and marks it as sent). */
export function shouldOnboard(deps: NoticeDeps, openId: string): Promise<boolean> {
  return deps.kv.setIfAbsent(`notice:onboard:${openId}`, "1", deps.now() + ONBOARD_INTERVAL_MS);
}

/** True when this user, whose plugin is offline, should be told the message is queued (and marks it). */
export function shouldNotifyOffline(deps: NoticeDeps, userId: number): Promise<boolean> {
  return deps.kv.setIfAbsent(`notice:offline:${userId}`, "1", deps.now() + OFFLINE_NOTICE_INTERVAL_MS);
}

/** Plain text for a Feishu `text` message; `publicUrl` is config PUBLIC_URL. */
export function onboardingText(publicUrl: string): string {
  const link = `${publicUrl}/login`;
  return [
    `你好！这个机器人由多人共用，每个人的消息会交给自己的 OpenClaw 助手处理。请先用飞书登录 ${link} ，按页面提示连接你的 OpenClaw。这条消息没有被保存。`,
    "",
    `Hi! This bot is shared: each person's messages go to their own OpenClaw agent. Please sign in with Feishu at ${link} and connect your OpenClaw as the page explains. This message was not stored.`,
  ].join("\n");
}

export function offlineNoticeText(): string {
  return [
    "你的 OpenClaw 目前不在线。消息已排队，连接后会自动送达。",
    "Your OpenClaw is offline right now. Your message is queued and will be delivered when it reconnects.",
  ].join("\n");
}
