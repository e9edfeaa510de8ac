import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  type ProcessFacts,
  parseEnviron,
  RELAY_JSC_OPTIONS,
  relaunchFor,
} from "../../src/ops/jsc-options.ts";
import { withServeProcess } from "../serve-process.ts";

const BUN = "/opt/bun/bin/bun";

function facts(over: Partial<ProcessFacts> = {}): ProcessFacts {
  return {
    env: { PATH: "/usr/bin", PORT: "5178" },
    execPath: BUN,
    argv0: "bun",
    argv: [BUN, "/srv/relay/src/index.ts"],
    execArgv: [],
    main: "/srv/relay/src/index.ts",
    ...over,
  };
}

describe("relaunchFor", () => {
  test("`serve` (or no command) starts again with the options added to the environment", () => {
    for (const args of [[], ["serve"], ["serve", "--port", "8080"], ["--port=8080"]]) {
      const plan = relaunchFor(facts({ argv: [BUN, "/srv/relay/src/index.ts", ...args] }));
      expect(plan).toEqual({
        path: BUN,
        args: ["bun", "/srv/relay/src/index.ts", ...args],
        env: { PATH: "/usr/bin", PORT: "5178", BUN_JSC_useFTLJIT: "0" },
      });
    }
  });

  test("bun's own flags are kept before the script", () => {
    const plan = relaunchFor(
      facts({ execArgv: ["--smol", "--cpu-prof"], argv: [BUN, "/s/index.ts", "serve"] }),
    );
    expect(plan?.args).toEqual(["bun", "--smol", "--cpu-prof", "/s/index.ts", "serve"]);
  });

  test("a compiled binary gets only the user's arguments (it runs its embedded entry), under the name it was started by", () => {
    const plan = relaunchFor(
      facts({
        execPath: "/usr/local/bin/openclaw-relay",
        argv0: "openclaw-relay",
        argv: ["bun", "/$bunfs/root/openclaw-relay", "serve"],
        main: "/$bunfs/root/openclaw-relay",
      }),
    );
    expect(plan?.path).toBe("/usr/local/bin/openclaw-relay");
    // process.argv[0] is "bun" there; argv0 keeps what `ps` showed before the re-exec.
    expect(plan?.args).toEqual(["openclaw-relay", "serve"]);
  });

  test("an option already in the environment is the operator's choice (and ends the second start)", () => {
    expect(relaunchFor(facts({ env: { BUN_JSC_useFTLJIT: "1" } }))).toBeUndefined();
    expect(relaunchFor(facts({ env: { BUN_JSC_useFTLJIT: "0" } }))).toBeUndefined();
    // Only the missing ones are added.
    const plan = relaunchFor(facts({ env: { A: "x" } }), { A: "1", B: "2" });
    expect(plan?.env).toEqual({ A: "x", B: "2" });
  });

  test("one-shot commands, help, version and dev modes run as they are", () => {
    for (const args of [
      ["version"],
      ["migrate"],
      ["users", "list"],
      ["--help"],
      ["serve", "--help"],
      ["--version"],
    ]) {
      expect(relaunchFor(facts({ argv: [BUN, "/s/index.ts", ...args] }))).toBeUndefined();
    }
    expect(relaunchFor(facts({ execArgv: ["--watch"] }))).toBeUndefined();
    expect(relaunchFor(facts({ execArgv: ["--hot"] }))).toBeUndefined();
  });

  test("the second start gets the environment as started, not what Bun loaded from .env", () => {
    const plan = relaunchFor(
      facts({
        env: { PATH: "/usr/bin", FEISHU_APP_SECRET: "from-dotenv" },
        startEnv: () => ({ PATH: "/usr/bin" }),
      }),
    );
    expect(plan?.env).toEqual({ PATH: "/usr/bin", ...RELAY_JSC_OPTIONS });
    // An option set only in .env is still the operator's choice: no second start, and the
    // environment block is not even read.
    let reads = 0;
    const set = facts({
      env: { BUN_JSC_useFTLJIT: "1" },
      startEnv: () => {
        reads++;
        return {};
      },
    });
    expect(relaunchFor(set)).toBeUndefined();
    expect(reads).toBe(0);
  });

  test("unset variables are not passed on as the string 'undefined'", () => {
    const plan = relaunchFor(facts({ env: { PATH: "/bin", GONE: undefined } }));
    expect(plan?.env).toEqual({ PATH: "/bin", ...RELAY_JSC_OPTIONS });
  });
});

describe("parseEnviron", () => {
  test("NUL-separated NAME=value entries; values may hold '=' and be empty; the first of a name counts", () => {
    expect(parseEnviron("A=1\0B=x=y\0C=\0A=2\0=bad\0noequals\0")).toEqual({ A: "1", B: "x=y", C: "" });
    expect(parseEnviron("")).toEqual({});
  });
});

/** The environment of a real `serve` process once it listens, read under the PID it was started as. */
function servedEnvironment(env: Record<string, string>, dotenv?: string): Promise<string[]> {
  return servedWith(env, dotenv).then(({ environ }) => environ);
}

/** Its environ block and its stdout (the JSON log lines up to `relay_listening`). */
function servedWith(
  env: Record<string, string>,
  dotenv?: string,
): Promise<{ environ: string[]; out: string }> {
  const opts = { until: "relay_listening", env, ...(dotenv !== undefined ? { dotenv } : {}) };
  return withServeProcess(opts, ({ pid, out }) => {
    expect(out).toContain('"relay_listening"');
    // execve replaced the image: the PID we started is the one serving, with the new environment.
    return { environ: readFileSync(`/proc/${pid}/environ`, "utf8").split("\0"), out };
  });
}

describe("a real `serve` process", () => {
  test.skipIf(process.platform !== "linux")(
    "runs with the options, under the PID it was started as",
    async () => {
      const environ = await servedEnvironment({});
      expect(environ).toContain("BUN_JSC_useFTLJIT=0");
      expect(environ).toContain("PORT=0");
    },
  );

  test.skipIf(process.platform !== "linux")(
    "does not copy what it loaded from .env into its environ block (it reads .env again)",
    async () => {
      const dotenv = "FEISHU_VERIFICATION_TOKEN=dotenv-secret-value\nPUBLIC_URL=https://dotenv.example\n";
      const { environ, out } = await servedWith({}, dotenv);
      expect(environ).toContain("BUN_JSC_useFTLJIT=0");
      expect(environ.join("\n")).not.toContain("dotenv-secret-value");
      expect(environ.join("\n")).not.toContain("dotenv.example");
      // The second start read .env itself: its configuration has the file's values.
      expect(out).toContain('"publicUrl":"https://dotenv.example"');
    },
  );

  test.skipIf(process.platform !== "linux")("keeps an operator's own value", async () => {
    const environ = await servedEnvironment({ BUN_JSC_useFTLJIT: "1" });
    expect(environ).toContain("BUN_JSC_useFTLJIT=1");
    expect(environ).not.toContain("BUN_JSC_useFTLJIT=0");
  });
});
