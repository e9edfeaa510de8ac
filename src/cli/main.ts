/**
 * Command-line entry: `serve` (default), `migrate`, `check-config`, `version`, `users …`, `token …`.
 * Returns the exit code; configuration errors are one line naming the variable, exit 2.
 */
import { ConfigError, helpText, resolveConfig } from "../config/definition.ts";
import { readRawConfig } from "../config/load.ts";
import { parseArgs } from "../config/sources.ts";
import { VERSION } from "../version.ts";
import { checkConfig } from "./check-config.ts";
import { runMigrate } from "./migrate.ts";
import { serve } from "./serve.ts";
import { tokenCommand, usersCommand } from "./users.ts";

export type CommandHandler = (
  args: string[],
  options: Record<string, string | true>,
  raw: Record<string, string | undefined>,
) => Promise<string> | string;

/** Extra commands registered by feature modules (users, token). */
export const COMMANDS: Record<string, CommandHandler> = {};
// Lazy wrappers: users.ts imports UsageError from here, so its bindings may not exist yet at load time.
COMMANDS.users = (args, options, raw) => usersCommand(args, options, raw);
COMMANDS.token = (args, options, raw) => tokenCommand(args, options, raw);

export async function main(
  argv: string[],
  out = console.log,
  err = console.error,
): Promise<number | "running"> {
  const args = parseArgs(argv);
  const [command = "serve", ...rest] = args.positionals;
  if (args.options.help || command === "help") {
    out(helpText());
    return 0;
  }
  if (command === "version" || args.options.version) {
    out(VERSION);
    return 0;
  }
  try {
    const raw = readRawConfig({ flags: args.config, env: process.env, cwd: process.cwd() });
    switch (command) {
      case "serve":
        resolveConfig(raw);
        await serve(raw);
        return "running";
      case "check-config":
        out(checkConfig(raw));
        return 0;
      case "migrate":
        out(runMigrate(raw));
        return 0;
      case "healthcheck":
        return await healthcheck(raw, out);
      default: {
        const handler = COMMANDS[command];
        if (!handler) {
          err(`unknown command "${command}"; see --help`);
          return 2;
        }
        out(await handler(rest, args.options, raw));
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`invalid configuration: ${e.message}`);
      return 2;
    }
    if (e instanceof UsageError) {
      err(e.message);
      return 2;
    }
    throw e;
  }
}

/** For container HEALTHCHECKs on images without curl: exit 0 when /health answers 200. */
async function healthcheck(
  raw: Record<string, string | undefined>,
  out: (s: string) => void,
): Promise<number> {
  const port = resolveConfig(raw).PORT;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    out(`health ${res.status}`);
    return res.status === 200 ? 0 : 1;
  } catch {
    out("health unreachable");
    return 1;
  }
}

/** A command's wrong arguments: printed as one line, exit 2. */
export class UsageError extends Error {}
