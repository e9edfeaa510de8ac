import { describe, expect, test } from "bun:test";
import {
  ConfigError,
  configHelp,
  parseDuration,
  parseSize,
  resolveConfig,
  VARIABLES,
} from "../../src/config/definition.ts";

describe("configuration definition", () => {
  test("defaults match the contract", () => {
    const c = resolveConfig({});
    expect(c.HOST).toBe("0.0.0.0");
    expect(c.PORT).toBe(5178);
    expect(c.DATABASE_PATH).toBe("./data/relay.db");
    expect(c.PUBLIC_URL).toBe("http://localhost:5178");
    expect(c.JWT_EXPIRES_IN).toBe(30 * 86400);
    expect(c.ADMIN_TOKEN).toBeUndefined();
    expect(c.FEISHU_DOMAIN).toBe("feishu");
    expect(c.FEISHU_EVENT_MODE).toBe("webhook");
    expect(c.LOG_LEVEL).toBe("info");
    expect(c.LLM_CONFIG_ENABLED).toBe(true);
  });

  test("PUBLIC_URL follows PORT and loses its trailing slash", () => {
    expect(resolveConfig({ PORT: "8080" }).PUBLIC_URL).toBe("http://localhost:8080");
    expect(resolveConfig({ PUBLIC_URL: "https://relay.example.com/" }).PUBLIC_URL).toBe(
      "https://relay.example.com",
    );
  });

  test.each([
    ["PORT", "abc", "whole number"],
    ["PORT", "70000", "between 0 and 65535"],
    ["FEISHU_EVENT_MODE", "poll", "one of webhook, ws, both"],
    ["FEISHU_DOMAIN", "ftp://x", "http(s) URL"],
    ["JWT_EXPIRES_IN", "soon", "duration"],
    ["JWT_SECRET", "short", "at least 32"],
    ["LOG_LEVEL", "loud", "one of"],
    ["LLM_CONFIG_ENABLED", "maybe", "true or false"],
  ])("%s=%s is rejected naming the variable", (name, value, why) => {
    let err: unknown;
    try {
      resolveConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(name);
    expect((err as Error).message).toContain(why);
  });

  test("app id and secret go together", () => {
    expect(() => resolveConfig({ FEISHU_APP_ID: "cli_x" })).toThrow("FEISHU_APP_SECRET");
  });

  test("durations accept units", () => {
    expect(parseDuration("X", "90")).toBe(90);
    expect(parseDuration("X", "15m")).toBe(900);
    expect(parseDuration("X", "12h")).toBe(43200);
    expect(parseDuration("X", "7d")).toBe(604800);
  });

  test("the offline cap defaults to 100,000 messages and 64 MiB per user; sizes accept binary units", () => {
    const c = resolveConfig({});
    expect(c.INBOX_MAX_PENDING).toBe(100_000);
    expect(c.INBOX_MAX_PENDING_BYTES).toBe(64 * 1024 * 1024);
    expect(resolveConfig({ INBOX_MAX_PENDING_BYTES: "256MiB" }).INBOX_MAX_PENDING_BYTES).toBe(
      256 * 1024 ** 2,
    );
    expect(parseSize("X", "512KiB")).toBe(512 * 1024);
    expect(parseSize("X", "1g")).toBe(1024 ** 3);
    expect(parseSize("X", "2048")).toBe(2048);
    expect(() => resolveConfig({ INBOX_MAX_PENDING_BYTES: "512KiB" })).toThrow("at least 1048576 bytes");
    expect(() => resolveConfig({ INBOX_MAX_PENDING_BYTES: "lots" })).toThrow("must be a size like 64MiB");
  });

  test("--help lists every variable with its flag", () => {
    const help = configHelp();
    for (const v of VARIABLES) {
      expect(help).toContain(v.name);
      expect(help).toContain(`--${v.name.toLowerCase().replaceAll("_", "-")}`);
    }
  });
});
