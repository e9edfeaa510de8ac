import { describe, expect, test } from "bun:test";
import { jsonDepth, jsonDepthError, MAX_JSON_DEPTH } from "../../src/ops/json-depth.ts";

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
