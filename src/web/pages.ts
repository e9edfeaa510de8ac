/**
 * The sign-in pages: Chinese first, then English. Values are interpolated only through `html`.
 */
import type { PublicUser } from "../users/user-store.ts";
import { copyBox, html, page } from "./html.ts";

export const PLUGIN_PACKAGE = "openclaw-feishu-relay-channel";
export const CHANNEL_ID = "feishu-relay";

export function loginPage(opts: { publicUrl: string; feishuConfigured: boolean }): Response {
  const action = opts.feishuConfigured
    ? html`<a class="button" href="${opts.publicUrl}/auth/feishu/login">使用飞书登录 / Sign in with Feishu</a>`
    : html`<p class="bad">管理员尚未配置飞书应用，暂时无法登录。</p>
<p class="bad en">The administrator has not configured the Feishu app yet, so sign-in is unavailable.</p>`;
  return page(
    "登录 / Sign in · OpenClaw Relay",
    html`<h1>OpenClaw Relay</h1>
<p>大家共用一个飞书机器人：你发给机器人的消息会转交给你自己的 OpenClaw 助手（它可以运行在你的电脑上），助手的回复再由机器人发回飞书。用飞书登录后，你会得到一个令牌，用它把 OpenClaw 插件连接到这里。</p>
<p class="en">Many people share one Feishu bot: messages you send to the bot go to your own OpenClaw agent (it can run on your own computer), and its answers come back through the bot. Sign in with Feishu to get a token that connects your OpenClaw plugin to this relay.</p>
${action}`,
  );
}

export interface SignedInView {
  user: PublicUser;
  token: string;
  expiresAt: number;
  relayUrl: string;
}

export function signedInPage(v: SignedInView): Response {
  const expires = new Date(v.expiresAt).toISOString().replace("T", " ").slice(0, 16);
  const setup = [
    `openclaw plugins install ${PLUGIN_PACKAGE}`,
    `openclaw config set channels.${CHANNEL_ID}.relayUrl ${v.relayUrl}`,
    `openclaw config set channels.${CHANNEL_ID}.token ${v.token}`,
  ].join("\n");
  const owner = `openclaw config set commands.ownerAllowFrom '["${CHANNEL_ID}:${v.user.openId}"]'`;
  return page(
    "登录成功 / Signed in · OpenClaw Relay",
    html`<h1>登录成功 / Signed in</h1>
<p>你好，${v.user.name || v.user.openId}。下面是你的中继令牌，请像密码一样保管，不要分享给别人。</p>
<p class="en">Hello, ${v.user.name || v.user.openId}. This is your relay token: keep it like a password and never share it.</p>
${copyBox("token", v.token)}
<p class="en">有效期至 / Valid until ${expires} UTC</p>
<h2>连接 OpenClaw / Connect OpenClaw</h2>
<p>在运行 OpenClaw 的机器上执行：</p>
<p class="en">Run these on the machine where OpenClaw runs:</p>
${copyBox("setup", setup)}
<h2>主人权限 / Owner commands</h2>
<p>把你的 open_id（<code>${v.user.openId}</code>）加入 OpenClaw 的 <code>commands.ownerAllowFrom</code>，仅限主人的命令和工具才会对你开放：</p>
<p class="en">Add your open_id (<code>${v.user.openId}</code>) to OpenClaw's <code>commands.ownerAllowFrom</code> so owner-only commands and tools stay available to you:</p>
${copyBox("owner", owner)}`,
    { noStore: true },
  );
}

/** Chinese explanations for the sign-in failures; the English line is the error's own message. */
const ZH: Record<string, string> = {
  access_denied: "你在飞书页面上拒绝了授权。",
  oauth_error: "飞书返回了错误。",
  missing_state: "登录结果不完整（缺少 state）。",
  missing_code: "登录结果不完整（缺少授权码）。",
  invalid_state: "登录链接已过期或已被使用。",
  state_mismatch: "这次登录是在另一个浏览器中开始的。",
  oauth_exchange_failed: "飞书拒绝了这次登录（授权码无效、已使用或已过期）。",
  feishu_unavailable: "暂时无法通过飞书完成登录。",
  feishu_unconfigured: "管理员尚未配置飞书应用。",
  rate_limited: "尝试次数过多，请稍后再试。",
};

export function errorPage(
  e: { status: number; code: string; message: string; headers?: Record<string, string> },
  publicUrl: string,
): Response {
  return page(
    "登录失败 / Sign-in failed · OpenClaw Relay",
    html`<h1>登录失败 / Sign-in failed</h1>
<p class="bad">${ZH[e.code] ?? "登录没有完成。"}</p>
<p class="bad en">${e.message}</p>
<p class="en">错误代码 / Error code: <code>${e.code}</code></p>
<a class="button" href="${publicUrl}/login">重新登录 / Sign in again</a>`,
    { status: e.status, headers: e.headers, noStore: true },
  );
}
