/**
 * `scripts/release.ts`: its naming and checksum format, and one real (linux-x64 only, to stay bounded)
 * release that passes `sha256sum -c`, the binary smoke test and install.sh's dry run on this machine.
 * The full five-platform release is `npm run release`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import {
  formatSha256Sums,
  PLATFORMS,
  parsePlatforms,
  releaseFileName,
  stampInstallScript,
} from "../../scripts/release.ts";
import { tempDir } from "../helpers.ts";

const root = join(import.meta.dir, "../..");
const { dir, cleanup } = tempDir("relay-release-");
afterAll(cleanup);

function run(cmd: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawnSync(cmd, { cwd: root, env: { ...process.env, ...env } });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

describe("release naming and checksums", () => {
  test("one distinct file name per platform, .exe only for Windows", () => {
    const names = PLATFORMS.map((p) => releaseFileName("1.2.3", p));
    expect(names).toEqual([
      "openclaw-relay-1.2.3-linux-x64",
      "openclaw-relay-1.2.3-linux-arm64",
      "openclaw-relay-1.2.3-darwin-x64",
      "openclaw-relay-1.2.3-darwin-arm64",
      "openclaw-relay-1.2.3-windows-x64.exe",
    ]);
  });

  test("SHA256SUMS is sha256sum's text format, sorted by name", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    expect(
      formatSha256Sums([
        { name: "z", sha256: a },
        { name: "m", sha256: b },
      ]),
    ).toBe(`${b}  m\n${a}  z\n`);
  });

  test("install.sh's default tag is stamped with the release's", () => {
    const script = readFileSync(join(root, "install.sh"), "utf8");
    expect(script).toContain('DEFAULT_TAG="latest"');
    const stamped = stampInstallScript(script, "v1.2.3");
    expect(stamped).toContain('\nDEFAULT_TAG="v1.2.3"\n');
    expect(stamped.replace('DEFAULT_TAG="v1.2.3"', 'DEFAULT_TAG="latest"')).toBe(script);
  });

  test("unknown platforms are refused by name", () => {
    expect(parsePlatforms(undefined)).toEqual([...PLATFORMS]);
    expect(() => parsePlatforms("linux-x64,linux-x86")).toThrow("unknown platform linux-x86");
    const r = run(["bun", "scripts/release.ts", "--platforms", "solaris-sparc", "--out", join(dir, "bad")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("release failed: unknown platform solaris-sparc");
  });

  test("a cross target whose runtime cannot be fetched fails naming the platform and the package", () => {
    // An empty Bun cache and a proxy that refuses connections: the download fails at once.
    const r = run(["bun", "scripts/release.ts", "--platforms", "darwin-x64", "--out", join(dir, "offline")], {
      BUN_INSTALL_CACHE_DIR: join(dir, "empty-cache"),
      HTTPS_PROXY: "http://127.0.0.1:9",
      https_proxy: "http://127.0.0.1:9",
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("build for darwin-x64 failed");
    expect(r.err).toContain(`@oven/bun-darwin-x64@${Bun.version} from the npm registry`);
    expect(readdirSync(join(dir, "offline"))).toEqual([]);
  });
});

// The release's binaries run on this machine only where it is linux-x64 (as here and in CI).
describe.skipIf(process.platform !== "linux" || process.arch !== "x64")("a linux-x64 release", () => {
  const out = join(dir, "release");
  const binary = `openclaw-relay-${pkg.version}-linux-x64`;

  test("builds the binary, SHA256SUMS that sha256sum -c accepts, and a binary that passes the smoke test", () => {
    const built = run(["bun", "scripts/release.ts", "--platforms", "linux-x64", "--out", out]);
    expect(built.err).toBe("");
    expect(built.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(
      ["SHA256SUMS", "install.sh", binary, "openclaw-relay.env.example", "openclaw-relay.service"].sort(),
    );
    const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
    const lines = sums.trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{64} {2}[^\s/]+$/);
    expect(lines.map((l) => l.slice(66)).sort()).toEqual(
      readdirSync(out)
        .filter((n) => n !== "SHA256SUMS")
        .sort(),
    );

    const check = Bun.spawnSync(["sha256sum", "--check", "--strict", "SHA256SUMS"], { cwd: out });
    expect(check.exitCode).toBe(0);

    // Stamped like `npm run build`: <package version>+<git sha> (the sha where git is available).
    const version = Bun.spawnSync([join(out, binary), "version"])
      .stdout.toString()
      .trim();
    expect(version).toMatch(new RegExp(`^${pkg.version.replaceAll(".", "\\.")}(\\+[0-9a-f]+)?$`));

    const smoke = run(["bash", "scripts/smoke-binary.sh", join(out, binary)]);
    expect(smoke.out).toContain("binary smoke test ok");
    expect(smoke.code).toBe(0);
  }, 240_000);

  test("install.sh's dry run on this machine verifies it and prints what it would do", () => {
    const r = run(["sh", join(out, "install.sh"), "--dry-run", "--no-systemd", "--base-url", out]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`checksum ok: ${binary}\n`);
    expect(r.out).toContain(`/usr/local/bin/openclaw-relay\n`);
  });
});
