/**
 * `npm ci` installs exactly package-lock.json and fails when it disagrees with package.json or misses a
 * package some platform needs. npm keeps every platform's optional binaries (@oven/bun-*,
 * @biomejs/cli-*, @esbuild/*) in the lock; this catches a merge or a hand edit that drops them.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import lock from "../../package-lock.json" with { type: "json" };

interface Entry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const packages = lock.packages as Record<string, Entry>;

/** Node's lookup: the nearest node_modules/<name> from `from` up to the root. */
function resolves(from: string, name: string): boolean {
  let base = from;
  for (;;) {
    if (packages[`${base ? `${base}/` : ""}node_modules/${name}`]) return true;
    if (!base) return false;
    const at = base.lastIndexOf("/node_modules/");
    base = at < 0 ? "" : base.slice(0, at);
  }
}

describe("package-lock.json", () => {
  test("its root declares exactly package.json's dependencies", () => {
    const root = packages[""] as Entry;
    expect(root.dependencies).toEqual(pkg.dependencies);
    expect(root.devDependencies).toEqual(pkg.devDependencies);
  });

  test("every dependency of every package, optional ones for all platforms included, is in the lock", () => {
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(packages)) {
      const required = { ...entry.dependencies, ...entry.optionalDependencies };
      if (path === "") Object.assign(required, entry.devDependencies);
      for (const [name, kind] of Object.entries(entry.peerDependencies ?? {})) {
        if (!entry.peerDependenciesMeta?.[name]?.optional) required[name] = kind;
      }
      for (const name of Object.keys(required))
        if (!resolves(path, name)) missing.push(`${path || "(root)"} → ${name}`);
    }
    expect(missing).toEqual([]);
  });

  test("Bun's runtime is locked for every platform the release builds on", () => {
    for (const p of ["linux-x64", "linux-aarch64", "darwin-x64", "darwin-aarch64", "windows-x64"]) {
      expect(packages[join("node_modules/@oven", `bun-${p}`)]?.version).toBe(pkg.devDependencies.bun);
    }
  });
});
