import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { ConfigError } from "../../src/config/definition.ts";
import { createRelay } from "../../src/server.ts";
import { LlmConfig } from "../../src/users/llm-config.ts";
import { freshPostgresUrl, POSTGRES_ADMIN_URL, postgresReachable } from "../storage/databases.ts";
import { json, req, type TestRelay, testRelay } from "./helpers.ts";

const pgUp = await postgresReachable();

let relay: TestRelay;
afterEach(() => relay?.cleanup());

const PROVIDERS = {
  alpha: { baseUrl: "https://alpha.example/v1", apiKey: "sk-alpha", model: "a-1" },
  beta: {
    baseUrl: "https://beta.example/v1",
    apiKey: "sk-beta",
    model: "b-1",
    api: "openai-completions",
    contextWindow: 128000,
    provider: "must-not-shadow",
  },
};

const parse = (LLM_PROVIDERS?: string, LLM_DEFAULT_PROVIDER?: string) =>
  LlmConfig.fromConfig({ LLM_PROVIDERS, LLM_DEFAULT_PROVIDER });

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("LLM_PROVIDERS", () => {
  test("parses inline JSON or a file; the default is LLM_DEFAULT_PROVIDER, else the first", () => {
    expect(parse(JSON.stringify(PROVIDERS)).defaultName).toBe("alpha");
    expect(parse(JSON.stringify(PROVIDERS), "beta").defaultName).toBe("beta");
    const file = join(mkdtempSync(join(tmpdir(), "llm-")), "providers.json");
    writeFileSync(file, JSON.stringify(PROVIDERS));
    expect([...parse(file).providers.keys()]).toEqual(["alpha", "beta"]);
    expect(parse(undefined).providers.size).toBe(0);
  });

  test("bad values are ConfigErrors naming the variable and never echo a key", () => {
    for (const bad of [
      "{not json sk-secret",
      "/no/such/file.json",
      "[]",
      "{}",
      JSON.stringify({ a: { baseUrl: "https://x", model: "m" } }),
      JSON.stringify({ a: { baseUrl: "ftp://x", apiKey: "sk-secret", model: "m" } }),
      JSON.stringify({ a: { baseUrl: "https://x", apiKey: "sk-secret" } }),
      JSON.stringify({ "bad name": { baseUrl: "https://x", apiKey: "sk-secret", model: "m" } }),
    ]) {
      const e = configError(() => parse(bad));
      expect(e.variable).toBe("LLM_PROVIDERS");
      expect(e.message).not.toContain("sk-secret");
    }
    expect(configError(() => parse(JSON.stringify(PROVIDERS), "gamma")).variable).toBe(
      "LLM_DEFAULT_PROVIDER",
    );
  });

  test("a bad value stops the relay at start-up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-"));
    await expect(createRelay({ DATABASE_PATH: join(dir, "r.db"), LLM_PROVIDERS: "{oops" })).rejects.toThrow(
      ConfigError,
    );
  });

  test.if(pgUp)(
    "a relay that cannot start leaves no connection open (its database can be dropped at once)",
    async () => {
      const { url, drop } = await freshPostgresUrl();
      await expect(createRelay({ DATABASE_URL: url, LLM_PROVIDERS: "{oops" })).rejects.toThrow(ConfigError);
      // Without FORCE: DROP DATABASE fails while any session is connected to it.
      const admin = new SQL(POSTGRES_ADMIN_URL, { max: 1 });
      try {
        await admin.unsafe(`DROP DATABASE ${new URL(url).pathname.slice(1)}`);
      } finally {
        await admin.close();
        await drop();
      }
    },
  );
});

describe("GET /api/config", () => {
  async function signedIn(raw: Record<string, string>) {
    relay = await testRelay(raw);
    const { user } = await relay.ctx.users.upsert({ openId: "ou_llm" });
    return { user, token: (await relay.ctx.tokens.issue(user)).token };
  }

  test("hands the default provider to a user, extras passed through without shadowing", async () => {
    const { token, user } = await signedIn({
      LLM_PROVIDERS: JSON.stringify(PROVIDERS),
      LLM_DEFAULT_PROVIDER: "beta",
    });
    const res = await relay.app.handle(req("/api/config", { token }));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      provider: "beta",
      model: "b-1",
      baseUrl: "https://beta.example/v1",
      apiKey: "sk-beta",
      api: "openai-completions",
      contextWindow: 128000,
    });
    await relay.ctx.users.setLlmProvider(user.id, "alpha");
    expect(await json(await relay.app.handle(req("/api/config", { token })))).toEqual({
      provider: "alpha",
      model: "a-1",
      baseUrl: "https://alpha.example/v1",
      apiKey: "sk-alpha",
    });
    // An assignment to a provider removed from the config falls back to the default.
    await relay.ctx.users.setLlmProvider(user.id, "removed");
    expect((await json(await relay.app.handle(req("/api/config", { token })))).provider).toBe("beta");
    expect(relay.lines.join("\n")).not.toContain("sk-");
  });

  test("needs a valid token", async () => {
    await signedIn({ LLM_PROVIDERS: JSON.stringify(PROVIDERS) });
    expect((await relay.app.handle(req("/api/config"))).status).toBe(401);
  });

  test("LLM_CONFIG_ENABLED=false answers 404 llm_config_disabled", async () => {
    const { token } = await signedIn({
      LLM_PROVIDERS: JSON.stringify(PROVIDERS),
      LLM_CONFIG_ENABLED: "false",
    });
    const res = await relay.app.handle(req("/api/config", { token }));
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("llm_config_disabled");
  });

  test("no providers declared answers 404 llm_not_configured", async () => {
    const { token } = await signedIn({});
    const res = await relay.app.handle(req("/api/config", { token }));
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("llm_not_configured");
  });
});
