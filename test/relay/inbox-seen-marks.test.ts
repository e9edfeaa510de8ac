import { describe, expect, test } from "bun:test";
import { SeenMarks } from "../../src/relay/inbox-seen-marks.ts";

describe("SeenMarks", () => {
  test("rules out keys never added, and keys removed since", () => {
    const marks = SeenMarks.from([{ key: "e:a" }, { key: "m:b" }]);
    expect(marks.mayHave("e:a")).toBe(true);
    expect(marks.mayHave("m:b")).toBe(true);
    expect(marks.mayHave("e:b")).toBe(false);
    marks.add("e:c");
    expect(marks.mayHave("e:c")).toBe(true);
    marks.remove(["e:a", "e:never"]);
    expect(marks.mayHave("e:a")).toBe(false);
    expect(marks.size).toBe(2);
  });

  test("two keys sharing a hash: removing one keeps the other (counted, never a false 'not there')", () => {
    const marks = new SeenMarks(() => 7);
    marks.add("e:one");
    marks.add("e:two");
    expect(marks.mayHave("e:three")).toBe(true); // a collision only costs a lookup
    marks.remove(["e:one"]);
    expect(marks.mayHave("e:two")).toBe(true);
    marks.remove(["e:two"]);
    expect(marks.mayHave("e:two")).toBe(false);
    expect(marks.size).toBe(0);
  });
});
