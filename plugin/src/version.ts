/** Kept in step with package.json (a unit test checks); sent in the User-Agent. */
export const PLUGIN_NAME = "openclaw-feishu-relay-channel";
export const PLUGIN_VERSION = "1.0.0";
