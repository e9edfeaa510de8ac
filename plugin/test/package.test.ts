/** The package and manifest match what OpenClaw reads (reference §2.1, §2.2) and the code. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import entry, { feishuRelayPlugin } from "../src/index.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "../src/version.ts";

const dir = join(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const manifest = JSON.parse(readFileSync(join(dir, "openclaw.plugin.json"), "utf8"));

describe("package", () => {
  test("name, version and the openclaw block", () => {
    expect(pkg.name).toBe(PLUGIN_NAME);
    expect(pkg.version).toBe(PLUGIN_VERSION);
    expect(pkg.type).toBe("module");
    expect(pkg.openclaw.extensions).toEqual(["./dist/index.js"]);
    expect(pkg.openclaw.channel.id).toBe("feishu-relay");
    expect(pkg.files).toEqual(["dist", "openclaw.plugin.json", "README.md"]);
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.devDependencies.openclaw).toBe("2026.9.6");
  });

  test("manifest declares the channel and its config schema", () => {
    expect(manifest.id).toBe(entry.id);
    expect(manifest.channels).toEqual(["feishu-relay"]);
    expect(manifest.configSchema).toEqual({ type: "object", additionalProperties: false, properties: {} });
    const ch = manifest.channelConfigs["feishu-relay"];
    expect(Object.keys(ch.schema.properties).sort()).toEqual([
      "enabled",
      "groupSessionScope",
      "relayUrl",
      "streaming",
      "token",
    ]);
    expect(ch.uiHints.token.sensitive).toBe(true);
  });
});

describe("entry", () => {
  test("register stores the runtime and registers the channel", () => {
    const registered: unknown[] = [];
    entry.register({
      runtime: { version: "test" },
      registerChannel: (r: unknown) => registered.push(r),
    } as never);
    expect(registered).toEqual([{ plugin: feishuRelayPlugin }]);
    expect(feishuRelayPlugin.id).toBe("feishu-relay");
    expect(feishuRelayPlugin.outbound?.deliveryMode).toBe("gateway");
    expect(feishuRelayPlugin.capabilities).toEqual({
      chatTypes: ["direct", "group"],
      reply: true,
      media: true,
    });
    expect(typeof feishuRelayPlugin.outbound?.sendMedia).toBe("function");
    expect(feishuRelayPlugin.messaging?.targetResolver?.looksLikeId?.("user:ou_1")).toBe(true);
    expect(feishuRelayPlugin.messaging?.targetResolver?.looksLikeId?.("alice")).toBe(false);
  });
});
