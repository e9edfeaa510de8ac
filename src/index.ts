#!/usr/bin/env bun
// Entry point: `bun src/index.ts [command]` behaves exactly like the compiled binary.
import { relaunchWithJscOptions } from "./ops/jsc-options.ts";

// Before the rest loads: `serve` may start over with its JSC options (ops/jsc-options.ts).
relaunchWithJscOptions();
const { main } = await import("./cli/main.ts");
const code = await main(process.argv.slice(2));
if (code !== "running") process.exit(code);
