/**
 * Command-line entry: `serve` (default), `migrate`, `check-config`, `version`, `users …`, `token …`,
 * `chats …`.
 * Returns the exit code; configuration errors are one line naming the variable, exit 2.
 */
import { ConfigError, resolveConfig } from "../config/definition.ts";
import {
  checkDatabasePath,
  DEFAULT_DATABASE_PATH,
  readRawConfig,
  refusePlaceholders,
} from "../config/load.ts";
import { parseArgs } from "../config/sources.ts";
import { VERSION } from "../version.ts";
import { chatsCommand } from "./chats.ts";
import { checkConfig } from "./check-config.ts";
import { allowedOptions, commandHelp, globalHelp, specFor } from "./commands.ts";
import { runMigrate } from "./migrate.ts";
import { StartupError, serve } from "./serve.ts";
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
COMMANDS.chats = (args, options, raw) => chatsCommand(args, options, raw);

export async function main(
  argv: string[],
  out = console.log,
  err = console.error,
): Promise<number | "running"> {
  const args = parseArgs(argv);
  const [command = "serve", ...rest] = args.positionals;
  const explicit = args.positionals.length > 0;
  if (command === "help" || (args.options.help && !explicit)) {
    const about = command === "help" ? specFor(rest[0] ?? "", rest[1]) : undefined;
    out(about ? commandHelp(about) : globalHelp());
    return 0;
  }
  const spec = specFor(command, rest[0]);
  if (args.options.help) {
    out(spec ? commandHelp(spec) : globalHelp());
    return 0;
  }
  if (command === "version" || args.options.version) {
    out(VERSION);
    return 0;
  }
  if (!spec && !COMMANDS[command]) {
    err(`unknown command "${command}"; see --help`);
    return 2;
  }
  const allowed = spec ? allowedOptions(spec) : new Set(["help", "version"]);
  const unknown = Object.keys(args.options).filter((o) => !allowed.has(o));
  if (unknown.length) {
    const flags = unknown.map((o) => (o.startsWith("-") ? o : `--${o}`)).join(", ");
    const named = spec && spec !== specFor(command, undefined) ? `${command} ${rest[0]}` : command;
    err(`unknown flag ${flags} for "${named}"; see openclaw-relay ${named} --help`);
    return 2;
  }
  try {
    const raw = readRawConfig({ flags: args.config, env: process.env });
    switch (command) {
      case "serve":
        resolveConfig(raw);
        refusePlaceholders(raw);
        // With DATABASE_URL the SQLite file is not used at all.
        if (!raw.DATABASE_URL) checkDatabasePath(raw.DATABASE_PATH || DEFAULT_DATABASE_PATH);
        await serve(raw);
        return "running";
      case "check-config":
        out(await checkConfig(raw));
        return 0;
      case "migrate":
        // Only the database settings matter here; a malformed DATABASE_URL is named, not connected to.
        if (raw.DATABASE_URL) resolveConfig({ DATABASE_URL: raw.DATABASE_URL });
        else checkDatabasePath(raw.DATABASE_PATH || DEFAULT_DATABASE_PATH);
        out(await runMigrate(raw));
        return 0;
      case "healthcheck":
        return await healthcheck(raw, out);
      default: {
        const handler = COMMANDS[command]!;
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
    if (e instanceof StartupError) {
      err(e.message);
      return 1;
    }
    // A system or SQLite error (EACCES, SQLITE_CANTOPEN…) is the host's problem, not a bug: one line.
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      err(`${command} failed: ${(e as Error).message} (${code})`);
      return 1;
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
