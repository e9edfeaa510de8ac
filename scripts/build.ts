/**
 * `bun run build` → dist/openclaw-relay: one executable with the migrations embedded and the version
 * stamped (`<package version>+<git sha>`).
 */
import { $ } from "bun";
import pkg from "../package.json" with { type: "json" };

const sha = (await $`git rev-parse --short HEAD`.quiet().nothrow()).stdout.toString().trim();
const version = sha ? `${pkg.version}+${sha}` : pkg.version;
const target = process.argv[2]; // e.g. bun-linux-arm64 for cross builds

const result = await Bun.build({
  entrypoints: ["./src/index.ts"],
  compile: {
    outfile: "./dist/openclaw-relay",
    ...(target ? { target: target as Bun.Build.CompileTarget } : {}),
  },
  minify: true,
  bytecode: true,
  format: "esm",
  target: "bun",
  sourcemap: "linked",
  define: { __RELAY_BUILD__: JSON.stringify(version) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built dist/openclaw-relay ${version}`);
