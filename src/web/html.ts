/**
 * HTML for the few pages the relay serves. Every interpolated value goes through `escapeHtml` (the
 * `html` tag does it by default); only fragments built by `html` itself pass through unescaped.
 * Pages are self-contained: inline CSS and JS allowed by a per-response CSP nonce, no external assets.
 */
import { randomBytes } from "../ops/crypto.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Safe in element content and in quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Markup that is already safe (built by `html`). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

function render(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(String(v));
}

/** Tagged template: `html\`<p>${name}</p>\`` escapes `name`; nested `html` fragments stay markup. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

const CSS = `
:root{color-scheme:light dark;--fg:#1f2329;--muted:#646a73;--bg:#f5f6f7;--card:#fff;--line:#dee0e3;--accent:#3370ff;--bad:#d83931}
@media (prefers-color-scheme:dark){:root{--fg:#e8e9eb;--muted:#a6a9ad;--bg:#17181a;--card:#232427;--line:#3a3b3e;--accent:#4e83fd;--bad:#f76964}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.6 -apple-system,BlinkMacSystemFont,"PingFang SC","Microsoft YaHei","Segoe UI",sans-serif}
main{max-width:680px;margin:48px auto;padding:32px;background:var(--card);border:1px solid var(--line);border-radius:12px}
h1{font-size:22px;margin:0 0 16px}h2{font-size:16px;margin:24px 0 8px}
p{margin:8px 0}.en{color:var(--muted)}.bad{color:var(--bad)}
.button{display:inline-block;margin-top:16px;padding:10px 20px;border-radius:8px;background:var(--accent);color:#fff;text-decoration:none;font-weight:600}
.box{position:relative;margin:8px 0}
pre{margin:0;padding:12px 84px 12px 12px;background:var(--bg);border:1px solid var(--line);border-radius:8px;white-space:pre-wrap;word-break:break-all;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
button.copy{position:absolute;top:8px;right:8px;padding:4px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg);cursor:pointer}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
footer{margin-top:24px;font-size:13px;color:var(--muted)}
`;

/** Copy buttons: `<button class="copy" data-copy="id">` copies the text of element `id`. No values inside. */
const COPY_JS = `
document.querySelectorAll("button.copy").forEach(function (b) {
  b.addEventListener("click", function () {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) return;
    navigator.clipboard.writeText(el.textContent).then(function () {
      b.textContent = "已复制 / Copied";
      setTimeout(function () { b.textContent = "复制 / Copy"; }, 1500);
    });
  });
});
`;

/** A block of text with a copy button. */
export function copyBox(id: string, text: string): SafeHtml {
  return html`<div class="box"><pre id="${id}">${text}</pre><button type="button" class="copy" data-copy="${id}">复制 / Copy</button></div>`;
}

export interface PageOptions {
  status?: number;
  /** Pages showing a token must never be cached or stored by the browser. */
  noStore?: boolean;
  headers?: Record<string, string>;
}

/** A complete page response with a strict CSP; `body` must come from `html`. */
export function page(title: string, body: SafeHtml, opts: PageOptions = {}): Response {
  const nonce = randomBytes(16).toString("base64");
  const doc = html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style nonce="${nonce}">${new SafeHtml(CSS)}</style>
</head>
<body>
<main>
${body}
<footer>OpenClaw Relay</footer>
</main>
<script nonce="${nonce}">${new SafeHtml(COPY_JS)}</script>
</body>
</html>`;
  return new Response(doc.value, {
    status: opts.status ?? 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      ...(opts.noStore ? { "cache-control": "no-store" } : {}),
      ...opts.headers,
    },
  });
}
