/**
 * install.sh against a local release folder of stand-in binaries (small shell scripts), run by the
 * system's /bin/sh with `uname` replaced on PATH so each platform's choice is exercised on this machine.
 * Nothing is installed outside a temp dir: dry runs, or a real install with --bin-dir.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatSha256Sums } from "../../scripts/release.ts";
import { tempDir } from "../helpers.ts";

const root = join(import.meta.dir, "../..");
const { dir, cleanup } = tempDir("relay-install-");
afterAll(cleanup);

const VERSION = "9.9.9";
const PLATFORMS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"];

/** A release folder like scripts/release.ts makes; `tamper` changes one file after it was summed. */
function fakeRelease(name: string, tamper?: string): string {
  const rel = join(dir, name);
  mkdirSync(rel);
  const files: Record<string, string> = {
    "openclaw-relay.service": "[Service]\nExecStart=/usr/local/bin/openclaw-relay serve\n",
    "openclaw-relay.env.example": "PORT=5178\n",
    [`openclaw-relay-${VERSION}-windows-x64.exe`]: "MZ",
  };
  for (const p of PLATFORMS) files[`openclaw-relay-${VERSION}-${p}`] = `#!/bin/sh\necho ${VERSION}-${p}\n`;
  const sums = Object.entries(files).map(([file, body]) => {
    writeFileSync(join(rel, file), body);
    return { name: file, sha256: new Bun.CryptoHasher("sha256").update(body).digest("hex") };
  });
  writeFileSync(join(rel, "SHA256SUMS"), formatSha256Sums(sums));
  if (tamper) appendFileSync(join(rel, tamper), "# evil\n");
  return rel;
}

/** A PATH folder whose `uname` answers as the given machine. */
function fakeUname(system: string, machine: string): string {
  const bin = join(dir, `uname-${system}-${machine}`);
  mkdirSync(bin, { recursive: true });
  const script = `#!/bin/sh\ncase "$1" in -s) echo ${system} ;; -m) echo ${machine} ;; *) echo ${system} ;; esac\n`;
  writeFileSync(join(bin, "uname"), script);
  chmodSync(join(bin, "uname"), 0o755);
  return bin;
}

function install(args: string[], machine: [string, string] = ["Linux", "x86_64"]) {
  const proc = Bun.spawnSync(["sh", join(root, "install.sh"), ...args], {
    env: { PATH: `${fakeUname(...machine)}:${process.env.PATH}` },
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

const release = fakeRelease("release");

describe("install.sh", () => {
  test("dry run on Linux x86_64 verifies the linux-x64 binary and prints the install it would do", () => {
    const r = install(["--dry-run", "--no-systemd", "--base-url", release]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`checksum ok: openclaw-relay-${VERSION}-linux-x64\n`);
    expect(r.out).toMatch(
      new RegExp(
        `would run: install -m 0755 \\S+/openclaw-relay-${VERSION}-linux-x64 /usr/local/bin/openclaw-relay\n`,
      ),
    );
    expect(r.out).toContain("dry run: nothing was changed");
    expect(r.out).not.toContain("systemd");
  });

  test("each uname maps to its binary, from a file:// URL too", () => {
    const cases: [string, string, string][] = [
      ["Linux", "aarch64", "linux-arm64"],
      ["Darwin", "arm64", "darwin-arm64"],
      ["Darwin", "x86_64", "darwin-x64"],
    ];
    for (const [system, machine, platform] of cases) {
      const r = install(["--dry-run", "--no-systemd", "--base-url", `file://${release}`], [system, machine]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`checksum ok: openclaw-relay-${VERSION}-${platform}\n`);
    }
  });

  test("with systemd it also verifies and installs the unit, the user and the env file", () => {
    const r = install(["--dry-run", "--systemd", "--base-url", release]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("checksum ok: openclaw-relay.service\n");
    expect(r.out).toContain("checksum ok: openclaw-relay.env.example\n");
    expect(r.out).toMatch(/would run: install -m 0644 \S+ \/etc\/systemd\/system\/openclaw-relay.service\n/);
    expect(r.out).toContain("would run: systemctl daemon-reload\n");
  });

  test("a tampered binary is refused before anything is installed", () => {
    const bad = fakeRelease("tampered-binary", `openclaw-relay-${VERSION}-linux-x64`);
    const r = install(["--dry-run", "--no-systemd", "--base-url", bad]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`checksum mismatch for openclaw-relay-${VERSION}-linux-x64`);
    expect(r.err).toContain("refusing to install");
    expect(r.out).not.toContain("would run");
  });

  test("a tampered systemd unit is refused", () => {
    const bad = fakeRelease("tampered-unit", "openclaw-relay.service");
    const r = install(["--dry-run", "--systemd", "--base-url", bad]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("checksum mismatch for openclaw-relay.service");
    expect(r.out).not.toContain("/etc/systemd/system");
  });

  test("unsupported machines, missing files and unknown options fail with a reason", () => {
    expect(install(["--dry-run", "--base-url", release], ["Linux", "riscv64"]).err).toContain(
      "no release binary for riscv64 on linux",
    );
    expect(install(["--dry-run", "--base-url", release], ["FreeBSD", "amd64"]).err).toContain(
      "no release binary for FreeBSD",
    );
    expect(install(["--dry-run", "--base-url", join(dir, "nowhere")]).err).toContain("no SHA256SUMS in");
    const unknown = install(["--dryrun"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain("unknown option --dryrun");
  });

  test("a real install into --bin-dir puts the verified binary there and runs it", () => {
    const binDir = join(dir, "bin");
    const r = install(["--no-systemd", "--bin-dir", binDir, "--base-url", release]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`installed ${VERSION}-linux-x64 at ${binDir}/openclaw-relay`);
    expect(Bun.spawnSync([join(binDir, "openclaw-relay")]).stdout.toString()).toBe(`${VERSION}-linux-x64\n`);
  });
});
