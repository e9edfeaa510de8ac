/**
 * The console's HTML: one shell for the single-page console and its sign-in page (the bundled script
 * renders both, Chinese first with an English toggle), and the server-rendered refusal and failure
 * pages of the Feishu sign-in. No inline script or style: the CSP allows only our own assets.
 */
import { escapeHtml, html, page } from "../web/html.ts";

export const ASSET_PATH = "/admin/assets";

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

export interface ShellOptions {
  view: "console" | "login";
  /** Sign-in methods offered on the login view. */
  feishu?: boolean;
  token?: boolean;
  version: string;
}

export function shell(o: ShellOptions): Response {
  const v = encodeURIComponent(o.version);
  const doc = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>OpenClaw Relay · 管理台 / Console</title>
<link rel="stylesheet" href="${ASSET_PATH}/console.css?v=${v}">
</head>
<body>
<div id="app" data-view="${o.view}" data-feishu="${o.feishu ? "1" : ""}" data-token="${o.token ? "1" : ""}" data-version="${escapeHtml(o.version)}"></div>
<noscript>管理台需要 JavaScript。 / The console needs JavaScript.</noscript>
<script src="${ASSET_PATH}/console.js?v=${v}" defer></script>
</body>
</html>`;
  return new Response(doc, {
    headers: { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS },
  });
}

/**
 * After the Feishu sign-in: the session cookie is SameSite=Strict, so a redirect chain that began on
 * Feishu's page would arrive without it. This page moves on by itself from our own origin instead.
 */
export function signedInPage(name: string): Response {
  return page(
    "已登录 / Signed in · OpenClaw Relay",
    html`<h1>已登录 / Signed in</h1>
<p>欢迎，${name}。正在打开管理台……</p>
<p class="en">Welcome, ${name}. Opening the console…</p>
<a class="button" href="/admin">打开管理台 / Open the console</a>`,
    { noStore: true, headers: { refresh: "0; url=/admin" } },
  );
}

export function refusedPage(name: string, openId: string): Response {
  return page(
    "无权访问 / Not allowed · OpenClaw Relay",
    html`<h1>无权访问 / Not allowed</h1>
<p class="bad">${name}（<code>${openId}</code>）不是这个中继的管理员。如需访问，请让管理员把你的 open_id 加入 <code>ADMIN_OPEN_IDS</code>。</p>
<p class="bad en">${name} (<code>${openId}</code>) is not an administrator of this relay. Ask an administrator to add your open_id to <code>ADMIN_OPEN_IDS</code>.</p>
<a class="button" href="/admin/login">返回 / Back</a>`,
    { status: 403, noStore: true },
  );
}

export function failedPage(e: { status: number; code: string; message: string }): Response {
  return page(
    "登录失败 / Sign-in failed · OpenClaw Relay",
    html`<h1>登录失败 / Sign-in failed</h1>
<p class="bad">管理台登录没有完成。</p>
<p class="bad en">${e.message}</p>
<p class="en">错误代码 / Error code: <code>${e.code}</code></p>
<a class="button" href="/admin/login">重新登录 / Sign in again</a>`,
    { status: e.status, noStore: true },
  );
}
