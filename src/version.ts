import pkg from "../package.json" with { type: "json" };

declare const __RELAY_BUILD__: string | undefined;

/** `0.1.0`, or `0.1.0+<git sha>` in a binary stamped by `bun run build`. */
export const VERSION: string = typeof __RELAY_BUILD__ === "string" ? __RELAY_BUILD__ : pkg.version;
