/**
 * Headless Debian chromium through playwright-core, cut off from everything but 127.0.0.1: every
 * other request is aborted and recorded, so a test can assert that none was even attempted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = Bun.which("chromium") ?? Bun.which("chromium-browser");
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
