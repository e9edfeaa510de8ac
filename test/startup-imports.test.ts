/**
 * What a SQLite relay loads at start: the static import graph from src/index.ts, through the entry's
 * own `import()` of cli/main.ts (it runs on every start, after the JSC relaunch check); other dynamic
 * import()s and type-only imports are not followed, as at run time. PostgreSQL code and node:crypto each cost
 * megabytes of idle RSS and milliseconds of every start (bench/startup.ts), so they must stay behind
 * a dynamic import (storage/postgres-adapters.ts) or a first-use load (ops/crypto.ts).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = join(import.meta.dir, "../src");
const transpiler = new Bun.Transpiler({ loader: "ts" });

/** Every module reached by static imports from `entry`: our files by path, packages by name. */
function staticGraph(entry: string): { files: Map<string, string>; packages: Map<string, string> } {
  const files = new Map<string, string>([[entry, "(entry)"]]);
  const packages = new Map<string, string>();
  const queue = [entry];
  for (let file = queue.pop(); file; file = queue.pop()) {
    const source = readFileSync(file, "utf8").replace(/^#!.*/, "");
    for (const imp of transpiler.scanImports(source)) {
      const entryImport = file === entry && imp.kind === "dynamic-import";
      if (imp.kind !== "import-statement" && !entryImport) continue;
      if (!imp.path.startsWith(".")) {
        if (!packages.has(imp.path)) packages.set(imp.path, relative(SRC, file));
        continue;
      }
      const target = resolve(dirname(file), imp.path);
      if (!target.endsWith(".ts") || !existsSync(target) || files.has(target)) continue;
      files.set(target, relative(SRC, file));
      queue.push(target);
    }
  }
  return { files, packages };
}

describe("start-up imports", () => {
  const { files, packages } = staticGraph(join(SRC, "index.ts"));

  test("the entry loads only the relaunch check before cli/main.ts", () => {
    const source = readFileSync(join(SRC, "index.ts"), "utf8").replace(/^#!.*/, "");
    const imports = transpiler.scanImports(source).map((i) => `${i.kind} ${i.path}`);
    expect(imports.sort()).toEqual(["dynamic-import ./cli/main.ts", "import-statement ./ops/jsc-options.ts"]);
  });

  test("the graph is walked (the serve path and the SQLite store are in it)", () => {
    expect(files.has(join(SRC, "server.ts"))).toBe(true);
    expect(files.has(join(SRC, "relay/inbox-store-sqlite.ts"))).toBe(true);
    expect(packages.has("elysia")).toBe(true);
  });

  test("no PostgreSQL module, schema or client is imported statically", () => {
    // db/pg-locks.ts may be: a few constants and a function, with nothing but types imported.
    const pg = [...files]
      .map(([f, by]) => [relative(SRC, f), by])
      .filter(([f]) => /postgres|pg-schema/.test(f!));
    expect(pg).toEqual([]);
    const pgPackages = [...packages].filter(([p]) => /pg-core|bun-sql$|^postgres$/.test(p));
    expect(pgPackages).toEqual([]);
  });

  test("nor the SQLite schema: the stores run their own prepared statements (db/open.ts)", () => {
    expect(files.has(join(SRC, "db/schema.ts"))).toBe(false);
  });

  test("node:crypto is not imported statically", () => {
    expect([...packages].filter(([p]) => p === "node:crypto" || p === "crypto")).toEqual([]);
  });
});
