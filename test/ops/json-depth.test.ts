import { describe, expect, test } from "bun:test";
import { jsonDepth, jsonDepthError, MAX_JSON_DEPTH, nestsDeeperThan } from "../../src/ops/json-depth.ts";

describe("jsonDepth", () => {
  test("counts objects and arrays, not brackets inside strings", () => {
    expect(jsonDepth("1")).toBe(0);
    expect(jsonDepth('"[{"')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":"]}}"}]}')).toBe(3);
    expect(jsonDepth('[[],[[]],{"x":{}}]')).toBe(3);
  });

  test("escaped quotes and backslashes do not end or start a string", () => {
    expect(jsonDepth('{"a":"x\\"[[[[","b":[1]}')).toBe(2);
    expect(jsonDepth('{"a":"x\\\\","b":[[1]]}')).toBe(3);
    expect(jsonDepth('{"a":"\\\\\\"{{"}')).toBe(1);
  });

  test("an unterminated string ends the scan; stopAbove ends it early", () => {
    expect(jsonDepth('[["abc')).toBe(2);
    expect(jsonDepth("[".repeat(60_000), 64)).toBe(65);
  });

  test("the error names the cap", () => {
    expect(jsonDepthError("[".repeat(MAX_JSON_DEPTH))).toBeUndefined();
    expect(jsonDepthError("[".repeat(MAX_JSON_DEPTH + 1))).toBe(
      `JSON nests deeper than ${MAX_JSON_DEPTH} levels`,
    );
  });
});

describe("nestsDeeperThan", () => {
  test("few brackets: within the cap without a scan; many: the exact scan decides", () => {
    expect(nestsDeeperThan('{"a":[1,{"b":2}]}', 2)).toBe(true);
    expect(nestsDeeperThan('{"a":[1,{"b":2}]}', 3)).toBe(false);
    // 70 brackets inside a string: more than the cap counted, but flat once scanned.
    expect(nestsDeeperThan(`{"t":"${"[".repeat(70)}"}`, 64)).toBe(false);
    // 70 siblings: many brackets, depth 2.
    expect(nestsDeeperThan(`[${Array(70).fill("{}").join(",")}]`, 64)).toBe(false);
    expect(nestsDeeperThan("[".repeat(65), 64)).toBe(true);
    expect(nestsDeeperThan(`${"{".repeat(40)}${"[".repeat(25)}`, 64)).toBe(true);
    expect(nestsDeeperThan("[".repeat(64), 64)).toBe(false);
  });
});
