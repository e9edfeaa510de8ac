/**
 * What each command and sub-command is called with, the flags it takes, and the help text made from
 * that: one table, so `--help`, per-command help and the unknown-flag check cannot disagree.
 */
import { configHelp } from "../config/definition.ts";
import { formatTable } from "./table.ts";

export interface CommandSpec {
  /** After `openclaw-relay `: the words and arguments. */
  usage: string;
  about: string;
  /** Flags besides configuration flags, --help and --version: name (no dashes) → what it does. */
  options?: Record<string, string>;
  /** Lists every configuration flag under its --help (serve, check-config). */
  config?: boolean;
  subcommands?: Record<string, CommandSpec>;
}

export const SPECS: Record<string, CommandSpec> = {
  serve: {
    usage: "serve [flags]",
    about: "start the relay (the default command); SIGTERM drains and exits 0",
    config: true,
  },
  migrate: {
    usage: "migrate [--database-path P | --database-url postgres://…]",
    about: "apply database migrations (SQLite or PostgreSQL) and exit",
  },
  "check-config": {
    usage: "check-config [flags]",
    about:
      "validate the configuration, the database (SQLite path writable, or PostgreSQL reachable) and placeholders; exit 0, or 2 with the reason",
    config: true,
  },
  users: {
    usage: "users <add|list|revoke|set-llm> …",
    about: "manage users and their tokens",
    subcommands: {
      add: {
        usage: "users add --open-id ou_… [--name N]",
        about: "create a user (or give an existing one a new token) and print the token",
        options: { "open-id": "the user's Feishu open_id (ou_…)", name: "display name" },
      },
      list: {
        usage: "users list [--json]",
        about: "list users: status (connected, offline, revoked), pending messages, last seen, LLM",
        options: { json: "print JSON instead of a table" },
      },
      revoke: {
        usage: "users revoke <id|open_id>",
        about: "invalidate every token of a user (a running relay closes their plugin socket)",
      },
      "set-llm": {
        usage: "users set-llm <id|open_id> <provider|default>",
        about: "assign an LLM provider from LLM_PROVIDERS to a user",
      },
    },
  },
  token: {
    usage: "token issue <id|open_id>",
    about: "print a fresh token for a user",
    subcommands: {
      issue: { usage: "token issue <id|open_id>", about: "print a fresh token for a user" },
    },
  },
  chats: {
    usage: "chats <list|bind|unbind> …",
    about: "group chats bound to a user's agent",
    subcommands: {
      list: {
        usage: "chats list [--json]",
        about: "list groups bound to a user's agent",
        options: { json: "print JSON instead of a table" },
      },
      bind: {
        usage: "chats bind <chat_id> <id|open_id> [--no-mention]",
        about: "bind a group (oc_…) to a user's agent",
        options: {
          "no-mention":
            "every message goes to the agent, not only @-mentions (needs the im:message.group_msg scope)",
        },
      },
      unbind: { usage: "chats unbind <chat_id>", about: "remove a group's binding" },
    },
  },
  healthcheck: {
    usage: "healthcheck [--port N]",
    about: "exit 0 when the local relay answers /health (for containers)",
  },
  version: { usage: "version", about: "print the version" },
};

const CONFIG_NOTE = "Configuration flags (e.g. --database-path) are accepted too; see openclaw-relay --help.";

/** The spec a command line addresses: the sub-command's when one is named, else the command's. */
export function specFor(command: string, sub: string | undefined): CommandSpec | undefined {
  const spec = SPECS[command];
  return (sub && spec?.subcommands?.[sub]) || spec;
}

/** Flags a command line may carry: the sub-command's, or every sub-command's when none is named. */
export function allowedOptions(spec: CommandSpec): Set<string> {
  const own = Object.keys(spec.options ?? {});
  const subs = Object.values(spec.subcommands ?? {}).flatMap((s) => Object.keys(s.options ?? {}));
  return new Set(["help", "version", ...own, ...subs]);
}

export function globalHelp(): string {
  const rows: string[][] = [];
  for (const spec of Object.values(SPECS)) {
    if (spec.subcommands)
      for (const s of Object.values(spec.subcommands)) rows.push([`  ${s.usage}`, s.about]);
    else rows.push([`  ${spec.usage}`, spec.about]);
  }
  return [
    "Usage: openclaw-relay [command] [flags]",
    "",
    "Commands:",
    formatTable(rows),
    "",
    'Run "openclaw-relay <command> --help" for one command.',
    "",
    configHelp(),
  ].join("\n");
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: openclaw-relay ${spec.usage}`, "", spec.about];
  if (spec.subcommands) {
    lines.push("", "Commands:");
    lines.push(
      formatTable(Object.values(spec.subcommands).map((s) => [`  openclaw-relay ${s.usage}`, s.about])),
    );
  }
  const options = Object.entries(spec.options ?? {});
  if (options.length) {
    lines.push("", "Flags:");
    lines.push(formatTable(options.map(([name, about]) => [`  --${name}`, about])));
  }
  lines.push("", spec.config ? configHelp() : CONFIG_NOTE);
  return lines.join("\n");
}
