import { describe, expect, test } from "bun:test";
import { CHROMIUM, NO_CHROMIUM, offlineBrowser } from "../chromium.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";

describe("/swagger", () => {
  test("serves the UI's assets itself and names no other host", async () => {
    const r = await gatewayRelay();
    try {
      const html = await (await fetch(`${r.http}/swagger`)).text();
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThanOrEqual(3);
      for (const ref of refs) {
        expect(ref).toStartWith("/swagger/assets/");
        const asset = await fetch(`${r.http}${ref}`);
        expect({ ref, status: asset.status }).toEqual({ ref, status: 200 });
        expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
      const missing = await fetch(`${r.http}/swagger/assets/nope.js`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: "not_found", message: "no such asset" } });
    } finally {
      await r.close();
    }
  });

  test.skipIf(!CHROMIUM)(
    `renders the API's operations in Chromium with the network off${CHROMIUM ? "" : ` (skipped: ${NO_CHROMIUM})`}`,
    async () => {
      const r = await gatewayRelay();
      const browser = await offlineBrowser();
      try {
        const page = await browser.context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${r.http}/swagger`);
        await page.locator(".opblock").first().waitFor({ timeout: 15_000 });
        const paths = await page.locator(".opblock-summary-path").allTextContents();
        const normalized = paths.map((p) => p.replace(/\u200b/g, "").trim());
        expect(normalized).toEqual(
          expect.arrayContaining(["/health", "/api/messages", "/openclaw", "/metrics"]),
        );
        expect(await page.locator(".info .title").textContent()).toContain("OpenClaw Relay");
        expect(errors).toEqual([]);
        expect(browser.blocked).toEqual([]);
      } finally {
        await browser.close();
        await r.close();
      }
    },
    30_000,
  );

  test.skipIf(!CHROMIUM)("the offline browser records and refuses a request to another host", async () => {
    const r = await gatewayRelay();
    const browser = await offlineBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${r.http}/health`);
      await page.evaluate(() => fetch("https://cdn.example.invalid/x.js").catch(() => {}));
      expect(browser.blocked).toEqual(["https://cdn.example.invalid/x.js"]);
    } finally {
      await browser.close();
      await r.close();
    }
  });
});
