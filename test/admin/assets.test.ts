import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { consoleAssets, OUT } from "../../scripts/build-console.ts";

test("the committed console bundle is what scripts/build-console.ts builds from src/admin/ui (run npm run build:console)", async () => {
  expect(readFileSync(OUT, "utf8")).toBe(await consoleAssets());
});
