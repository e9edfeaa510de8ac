#!/usr/bin/env bun
// Entry point: `bun src/index.ts [command]` behaves exactly like the compiled binary.
import { main } from "./cli/main.ts";

const code = await main(process.argv.slice(2));
if (code !== "running") process.exit(code);
