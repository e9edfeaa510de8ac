/**
 * `npm run build` → dist/openclaw-relay: one executable for this machine, with the migrations embedded
 * and the version stamped (`<package version>+<git sha>`, or `$RELAY_VERSION` when set, as the Docker
 * build does from its `VERSION` build arg).
 *
 * `bun scripts/build.ts bun-linux-arm64` cross-compiles to dist/openclaw-relay-linux-arm64 instead, so a
 * foreign binary never replaces the one this machine runs. `scripts/release.ts` builds every platform.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { $ } from "bun";
import pkg from "../package.json" with { type: "json" };

/**
 * Which functions a start-up runs (`bun scripts/record-startup-order.ts` writes it). Bun lays their
 * bytecode out first, so a start pages in and decodes less of the binary: ~3 MB less idle RSS. Functions
 * are matched by a hash of their syntax, so a profile older than the code still applies; re-record it
 * when bench/startup.ts shows the memory creeping back.
 */
export const STARTUP_ORDER = join(import.meta.dir, "startup.order");

/** `<os>-<arch>` as in release file names; Bun's compile target is `bun-<os>-<arch>`. */
export type Platform = "linux-x64" | "linux-arm64" | "darwin-x64" | "darwin-arm64" | "windows-x64";

/** The version the binary reports: an explicit one (release tag, Docker build arg) or package+sha. */
export async function buildVersion(env: Record<string, string | undefined> = process.env): Promise<string> {
  if (env.RELAY_VERSION) return env.RELAY_VERSION;
  const sha = (await $`git rev-parse --short HEAD`.quiet().nothrow()).stdout.toString().trim();
  return sha ? `${pkg.version}+${sha}` : pkg.version;
}

export class BuildError extends Error {}

/**
 * Compiles src/index.ts into `outfile`. A cross target needs Bun's runtime for that platform, which Bun
 * downloads once from the npm registry (@oven/bun-<os>-<arch>) into its install cache; when that fails
 * the error says so instead of Bun's bare log.
 */
export async function compile(opts: {
  outfile: string;
  version: string;
  platform?: Platform;
}): Promise<void> {
  const target = opts.platform ? (`bun-${opts.platform}` as Bun.Build.CompileTarget) : undefined;
  let result: Bun.BuildOutput;
  try {
    result = await Bun.build({
      entrypoints: ["./src/index.ts"],
      compile: {
        outfile: opts.outfile,
        ...(target ? { target } : {}),
        bytecodeOrder: existsSync(STARTUP_ORDER) && STARTUP_ORDER,
      },
      minify: true,
      bytecode: true,
      // Code behind a dynamic import() (the Feishu SDK, the OpenAPI generator, the PostgreSQL client)
      // goes into its own chunk inside the binary and is loaded only when first imported; without
      // splitting Bun links it into the one module every start loads.
      splitting: true,
      format: "esm",
      target: "bun",
      sourcemap: "linked",
      define: { __RELAY_BUILD__: JSON.stringify(opts.version) },
    });
  } catch (err) {
    throw new BuildError(explain(opts.platform, err));
  }
  if (!result.success) throw new BuildError(explain(opts.platform, result.logs.join("\n")));
}

function explain(platform: Platform | undefined, cause: unknown): string {
  const detail = cause instanceof AggregateError ? cause.errors.join("\n") : String(cause);
  if (!platform) return `build failed:\n${detail}`;
  const [os, arch] = platform.split("-");
  const runtime = `@oven/bun-${os}-${arch === "arm64" ? "aarch64" : arch}@${Bun.version}`;
  return `build for ${platform} failed (a cross build needs ${runtime} from the npm registry, kept in Bun's install cache):\n${detail}`;
}

if (import.meta.main) {
  process.chdir(`${import.meta.dir}/..`);
  const arg = process.argv[2]; // e.g. bun-linux-arm64 for a cross build
  const platform = arg?.replace(/^bun-/, "") as Platform | undefined;
  const outfile = platform ? `./dist/openclaw-relay-${platform}` : "./dist/openclaw-relay";
  const version = await buildVersion();
  try {
    await compile({ outfile, version, ...(platform ? { platform } : {}) });
  } catch (err) {
    console.error(err instanceof BuildError ? err.message : err);
    process.exit(1);
  }
  console.log(`built ${outfile}${platform === "windows-x64" ? ".exe" : ""} ${version}`);
}
