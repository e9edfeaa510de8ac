/** The release workflow cannot run here; this pins its shape: a tag trigger, `npm ci`, `npm run release`, pinned actions. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: { push: { tags: string[] } };
  permissions: Record<string, string>;
  jobs: Record<string, { "runs-on": string; steps: Step[] }>;
}

const workflow = Bun.YAML.parse(
  readFileSync(join(root, ".github/workflows/release.yml"), "utf8"),
) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const runs = steps.map((s) => s.run ?? "").join("\n");

describe(".github/workflows/release.yml", () => {
  test("runs on v* tags with permission to write the release", () => {
    expect(workflow.on.push.tags).toEqual(["v*"]);
    expect(workflow.permissions).toEqual({ contents: "write" });
  });

  test("installs from the lockfile, then builds with npm run release", () => {
    const order = ["npm ci", "npm run release", "scripts/smoke-binary.sh", "gh release upload"].map((s) =>
      runs.indexOf(s),
    );
    for (const at of order) expect(at).toBeGreaterThanOrEqual(0);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  test("uploads the whole release folder (binaries, SHA256SUMS, install.sh)", () => {
    expect(runs).toContain("--clobber dist/release/*");
  });

  test("every action is pinned to a full commit", () => {
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u).toMatch(/^[\w-]+\/[\w-]+@[0-9a-f]{40}$/);
  });
});
