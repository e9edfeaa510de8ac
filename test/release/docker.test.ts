/**
 * The image cannot be built on the development machines (no Docker daemon, no access to base images);
 * these pin what `docker compose up -d` relies on, and run `docker compose config` (or Debian's
 * docker-compose) on the compose file where one is installed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

const root = join(import.meta.dir, "../..");
const read = (file: string) => readFileSync(join(root, file), "utf8");

interface Service {
  build: { context: string; args: Record<string, string> };
  restart: string;
  env_file: string | string[];
  environment: Record<string, string>;
  ports: string[];
  volumes: string[];
  healthcheck: { test: string[] };
}
/** Compose's own `${VAR:-default}` interpolation, spelled without tripping the template-string lint. */
const interpolate = (name: string, fallback: string) => ["$", "{", name, ":-", fallback, "}"].join("");

const compose = Bun.YAML.parse(read("docker-compose.yml")) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

const answers = (cmd: string[]) => {
  try {
    return Bun.spawnSync([...cmd, "version"], { stderr: "ignore", stdout: "ignore" }).exitCode === 0;
  } catch {
    return false; // not installed at all: spawnSync throws instead of failing
  }
};
const cli = [["docker", "compose"], ["docker-compose"]].find(answers);

describe("docker-compose.yml", () => {
  const relay = compose.services.relay as Service;

  test("the relay keeps its database in a named volume and reads openclaw-relay.env", () => {
    expect(relay.volumes).toEqual(["relay-data:/data"]);
    expect(Object.keys(compose.volumes)).toEqual(["relay-data"]);
    expect(relay.env_file).toBe("openclaw-relay.env");
    // The env file cannot move the database out of the volume or the port away from the mapping.
    expect(relay.environment).toMatchObject({ PORT: "5178", DATABASE_PATH: "/data/relay.db" });
    expect(relay.ports).toEqual([`${interpolate("RELAY_PORT", "5178")}:5178`]);
  });

  test("it restarts, checks its health and stamps the version from the build arg", () => {
    expect(relay.restart).toBe("unless-stopped");
    expect(relay.healthcheck.test).toEqual(["CMD", "/usr/local/bin/openclaw-relay", "healthcheck"]);
    expect(relay.build.args).toEqual({ VERSION: interpolate("OPENCLAW_RELAY_VERSION", "") });
  });

  test.skipIf(!cli)(`\`${cli?.join(" ")} config\` accepts it`, () => {
    const { dir, cleanup } = tempDir("relay-compose-");
    afterAll(cleanup);
    copyFileSync(join(root, "docker-compose.yml"), join(dir, "docker-compose.yml"));
    copyFileSync(join(root, "deploy/openclaw-relay.env.example"), join(dir, "openclaw-relay.env"));
    const r = Bun.spawnSync([...(cli as string[]), "config", "--quiet"], { cwd: dir });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

describe("docker-compose.cluster.yml", () => {
  const cluster = Bun.YAML.parse(read("docker-compose.cluster.yml")) as {
    services: Record<string, Partial<Service> & { image?: string; depends_on?: unknown }>;
  };
  const relays = ["relay1", "relay2"].map((n) => cluster.services[n]!);

  test("two identical relays on one PostgreSQL, each with its own node id, behind the load balancer", () => {
    expect(Object.keys(cluster.services).sort()).toEqual(["lb", "postgres", "relay1", "relay2"]);
    const urls = relays.map((r) => r.environment?.DATABASE_URL);
    expect(new Set(urls).size).toBe(1);
    expect(urls[0]).toStartWith("postgres://relay:");
    expect(relays.map((r) => r.environment?.NODE_ID)).toEqual(["relay-1", "relay-2"]);
    // The password comes from .env and is required, never a default in the file.
    expect(read("docker-compose.cluster.yml")).toContain("POSTGRES_PASSWORD:?");
    expect(cluster.services.lb?.volumes).toEqual([
      "./deploy/nginx-cluster.conf:/etc/nginx/conf.d/default.conf:ro",
    ]);
  });

  test("the load balancer passes WebSocket upgrades to both relays", () => {
    const conf = read("deploy/nginx-cluster.conf");
    expect(conf).toContain("server relay1:5178");
    expect(conf).toContain("server relay2:5178");
    expect(conf).toContain("proxy_set_header Upgrade $http_upgrade;");
    expect(conf).toContain("proxy_set_header Connection $connection_upgrade;");
  });

  test.skipIf(!cli)(`\`${cli?.join(" ")} config\` accepts it`, () => {
    const { dir, cleanup } = tempDir("relay-compose-");
    afterAll(cleanup);
    copyFileSync(join(root, "docker-compose.cluster.yml"), join(dir, "docker-compose.cluster.yml"));
    copyFileSync(join(root, "deploy/openclaw-relay.env.example"), join(dir, "openclaw-relay.env"));
    const r = Bun.spawnSync([...(cli as string[]), "-f", "docker-compose.cluster.yml", "config", "--quiet"], {
      cwd: dir,
      env: { ...process.env, POSTGRES_PASSWORD: "test-password" },
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

describe("Dockerfile and .dockerignore", () => {
  test("dependencies come from the lockfile and the version from the VERSION build arg", () => {
    const dockerfile = read("Dockerfile");
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^ARG VERSION=/m);
    expect(dockerfile).toContain('RELAY_VERSION="$VERSION" npm run --silent build');
  });

  test("secrets, local state and node_modules stay out of the build context", () => {
    const ignored = read(".dockerignore").split("\n");
    for (const entry of ["**/node_modules", ".git", "dist", "data", "*.db*", ".env", "*.env"]) {
      expect(ignored).toContain(entry);
    }
  });
});
