/**
 * Where raw configuration values come from: command-line flags, the environment and the database.
 * Pure parsing here; `load.ts` does the I/O and applies the precedence.
 *
 * `.env` is Bun's job, not ours: `bun src/index.ts` and the compiled binary load `.env` (and
 * `.env.local`, `.env.<NODE_ENV>`) from the working directory into the environment before our code
 * runs, never over a variable that is already set — the "environment (including `.env`)" of the
 * precedence. A second parser here could only disagree with Bun's on quoting.
 */
import { flagFor, type Raw, VARIABLES } from "./definition.ts";

const FLAG_TO_NAME = new Map(VARIABLES.map((v) => [flagFor(v.name), v.name]));

export interface ParsedArgs {
  /** Positional words: the command and its arguments. */
  positionals: string[];
  /** Config values given as flags, keyed by variable name. */
  config: Raw;
  /** Other flags (`--open-id ou_x`, `--help`), keyed without the dashes. */
  options: Record<string, string | true>;
}

/**
 * `--port 5178`, `--port=5178`; `-h` is `--help`. Other flags (`--x`, and short ones kept as `-x`)
 * land in `options` for the command to judge: main refuses the ones a command does not know.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], config: {}, options: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      out.options.help = true;
      continue;
    }
    if (/^-[^-]/.test(arg)) {
      out.options[arg] = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const next = argv[i + 1];
    const takeNext = eq === -1 && next !== undefined && !next.startsWith("--");
    const value: string | true = eq !== -1 ? arg.slice(eq + 1) : takeNext ? next! : true;
    if (takeNext) i++;
    const name = FLAG_TO_NAME.get(flag);
    if (name) out.config[name] = value === true ? "true" : value;
    else out.options[flag.slice(2)] = value;
  }
  return out;
}

/** Keeps only known variables, so unrelated environment never leaks into the config. */
export function pickKnown(source: Raw): Raw {
  const out: Raw = {};
  for (const v of VARIABLES) if (source[v.name] !== undefined) out[v.name] = source[v.name];
  return out;
}

/** flags > environment (Bun has merged `.env` into it) > database > defaults. */
export function mergeSources(s: { flags: Raw; env: Raw; db: Raw }): Raw {
  return { ...pickKnown(s.db), ...pickKnown(s.env), ...pickKnown(s.flags) };
}
