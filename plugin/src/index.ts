/**
 * Plugin entry (`openclaw.extensions` → dist/index.js). The plain-object form imports nothing from
 * openclaw at runtime, so the package has no dependencies and loads on any host version that
 * knows `registerChannel`.
 */
import type { OpenClawPluginApi } from "openclaw/plugin-sdk/plugin-entry";
import { createFeishuRelayPlugin } from "./channel.ts";
import { CHANNEL_ID } from "./config.ts";
import { setPluginRuntime } from "./runtime.ts";

export const feishuRelayPlugin = createFeishuRelayPlugin();
export { createFeishuRelayPlugin } from "./channel.ts";

const entry = {
  id: CHANNEL_ID,
  name: "Feishu Relay",
  description: "Feishu/Lark channel through a shared-bot OpenClaw Relay (outbound WebSocket).",
  configSchema: { type: "object", additionalProperties: false, properties: {} },
  register(api: OpenClawPluginApi) {
    setPluginRuntime(api.runtime);
    api.registerChannel({ plugin: feishuRelayPlugin });
  },
};

export default entry;
