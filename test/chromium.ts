/**
 * Headless Chromium for the page tests: Debian's `chromium` driven by playwright-core (no browser
 * download). Tests skip, saying why, when it is absent (`.ci/run` installs it). `launchChromium` for
 * the console; `offlineBrowser` cuts a page off from everything but 127.0.0.1 and records what it tried.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = ["/usr/bin/chromium", Bun.which("chromium"), Bun.which("chromium-browser")].find(
  (p): p is string => Boolean(p && existsSync(p)),
);
export const hasChromium = CHROMIUM !== undefined;
export const NO_CHROMIUM = "chromium not installed (apt-get install chromium)";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A fresh browser; playwright gives each launch its own new profile directory. */
export function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error(NO_CHROMIUM);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** A temp folder for screenshots (kept after the run, so they can be looked at). */
export const screenshotDir = () => mkdtempSync(join(tmpdir(), "console-shots-"));

/** Distinct colours in a PNG, counted by the browser itself: a blank page has one or two. */
export async function distinctColours(page: Page, png: Buffer): Promise<number> {
  const dataUrl = `data:image/png;base64,${png.toString("base64")}`;
  return page.evaluate(async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const g = canvas.getContext("2d")!;
    g.drawImage(img, 0, 0);
    const data = g.getImageData(0, 0, img.width, img.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length && seen.size < 1000; i += 16) {
      seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    }
    return seen.size;
  }, dataUrl);
}

/** Whether the page scrolls sideways (content wider than the viewport). */
export const overflowsX = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

export async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  await s.stop(true);
  return port;
}

export interface OfflineBrowser {
  context: BrowserContext;
  /** URLs the page tried to reach outside 127.0.0.1. */
  blocked: string[];
  close(): Promise<void>;
}

export async function offlineBrowser(): Promise<OfflineBrowser> {
  if (!CHROMIUM) throw new Error(NO_CHROMIUM);
  // A fresh profile each time: nothing cached from an earlier run can hide a network request.
  const profile = mkdtempSync(join(tmpdir(), "relay-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    const host = URL.canParse(url) ? new URL(url).hostname : "";
    if (host === "127.0.0.1" || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });
  return {
    context,
    blocked,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
