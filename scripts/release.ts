/**
 * `npm run release` → dist/release/: one binary per platform (openclaw-relay-<version>-<os>-<arch>[.exe]),
 * the systemd unit, the env example, install.sh (defaulting to this release's tag) and SHA256SUMS over
 * all of them, in `sha256sum -c` format.
 *
 *   bun scripts/release.ts [--platforms linux-x64,darwin-arm64] [--out dist/release]
 *
 * Cross builds fetch Bun's runtime for each platform from the npm registry once (see scripts/build.ts);
 * a platform that cannot be built stops the release with a message naming it.
 */
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { BuildError, buildVersion, compile, type Platform } from "./build.ts";

export const PLATFORMS: readonly Platform[] = [
  "linux-x64",
  "linux-arm64",
  "darwin-x64",
  "darwin-arm64",
  "windows-x64",
];

/** Files copied beside the binaries: install.sh fetches and verifies the two deploy files. */
const EXTRAS = ["deploy/openclaw-relay.service", "deploy/openclaw-relay.env.example"] as const;

export function releaseFileName(version: string, platform: Platform): string {
  return `openclaw-relay-${version}-${platform}${platform.startsWith("windows-") ? ".exe" : ""}`;
}

/** GNU coreutils text-mode lines (`<hex>  <name>`), sorted by name so the file is reproducible. */
export function formatSha256Sums(entries: { name: string; sha256: string }[]): string {
  return [...entries]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `${e.sha256}  ${e.name}\n`)
    .join("");
}

/** install.sh as shipped in a release: without --version it installs this release, not "latest". */
export function stampInstallScript(script: string, tag: string): string {
  const line = /^DEFAULT_TAG=.*$/m;
  if (!line.test(script)) throw new Error("install.sh has no DEFAULT_TAG= line to stamp");
  return script.replace(line, `DEFAULT_TAG="${tag}"`);
}

export function parsePlatforms(list: string | undefined): Platform[] {
  if (!list) return [...PLATFORMS];
  const wanted = list.split(",").map((p) => p.trim());
  const unknown = wanted.filter((p) => !PLATFORMS.includes(p as Platform));
  if (unknown.length > 0)
    throw new Error(`unknown platform ${unknown.join(", ")} (known: ${PLATFORMS.join(", ")})`);
  return wanted as Platform[];
}

async function sha256(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  const reader = Bun.file(path).stream().getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) hasher.update(r.value);
  return hasher.digest("hex");
}

/** The output folder is emptied first, but only when everything in it looks like an earlier release. */
async function prepareOutDir(out: string): Promise<void> {
  const entries = await readdir(out).catch(() => [] as string[]);
  const ours = (n: string) =>
    n.startsWith("openclaw-relay") || n === "SHA256SUMS" || n === "install.sh" || n === ".staging";
  const foreign = entries.filter((n) => !ours(n));
  if (foreign.length > 0)
    throw new Error(`${out} holds files that are not a release's (${foreign.join(", ")})`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
}

async function buildOne(
  out: string,
  staging: string,
  platform: Platform,
  stamp: string,
  log: (line: string) => void,
): Promise<string> {
  const started = performance.now();
  // Each platform compiles alone in its own folder (Bun writes a .map beside the binary), then only
  // the executable moves to its final, platform-specific name: no build can overwrite another's.
  const dir = join(staging, platform);
  await mkdir(dir, { recursive: true });
  await compile({ outfile: join(dir, "openclaw-relay"), version: stamp, platform });
  const built = join(dir, platform.startsWith("windows-") ? "openclaw-relay.exe" : "openclaw-relay");
  const name = releaseFileName(pkg.version, platform);
  await rename(built, join(out, name));
  const { size } = await stat(join(out, name));
  log(`${name}  ${(size / 2 ** 20).toFixed(1)} MiB  ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return name;
}

export async function release(opts: { out: string; platforms: Platform[]; log?: (line: string) => void }) {
  const log = opts.log ?? console.log;
  const stamp = await buildVersion();
  await prepareOutDir(opts.out);
  const staging = join(opts.out, ".staging");
  const names: string[] = [];
  try {
    for (const platform of opts.platforms)
      names.push(await buildOne(opts.out, staging, platform, stamp, log));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  for (const extra of EXTRAS) {
    await Bun.write(join(opts.out, basename(extra)), Bun.file(extra));
    names.push(basename(extra));
  }
  const installer = stampInstallScript(await Bun.file("install.sh").text(), `v${pkg.version}`);
  await Bun.write(join(opts.out, "install.sh"), installer, { mode: 0o755 });
  names.push("install.sh");
  const sums = await Promise.all(
    names.map(async (name) => ({ name, sha256: await sha256(join(opts.out, name)) })),
  );
  await Bun.write(join(opts.out, "SHA256SUMS"), formatSha256Sums(sums));
  log(`${opts.out}/SHA256SUMS  ${names.length} files  (version ${stamp})`);
}

if (import.meta.main) {
  process.chdir(join(import.meta.dir, ".."));
  try {
    const { values } = parseArgs({
      options: { platforms: { type: "string" }, out: { type: "string", default: "dist/release" } },
      strict: true,
    });
    await release({ out: resolve(values.out), platforms: parsePlatforms(values.platforms) });
  } catch (err) {
    console.error(`release failed: ${err instanceof BuildError || err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
