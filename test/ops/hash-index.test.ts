import { describe, expect, test } from "bun:test";
import { fnv1a, HashIndex } from "../../src/ops/hash-index.ts";

/** A seeded generator (mulberry32): the same operations every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const valuesUnder = (index: HashIndex, hash: number): number[] => {
  const seen: number[] = [];
  index.find(hash, (v) => {
    seen.push(v);
    return "next";
  });
  return seen.sort((a, b) => a - b);
};

describe("HashIndex", () => {
  test("adds, finds and deletes entries, several under one hash", () => {
    const index = new HashIndex();
    index.add(7, 1);
    index.add(7, 2);
    index.add(-5, 3);
    expect(index.size).toBe(3);
    expect(index.has(7)).toBe(true);
    expect(index.has(8)).toBe(false);
    expect(valuesUnder(index, 7)).toEqual([1, 2]);
    expect(index.find(7, (v) => (v === 2 ? "found" : "next"))).toBe(2);
    expect(index.find(7, () => "next")).toBeUndefined();
    expect(index.delete(7, 1)).toBe(true);
    expect(index.delete(7, 1)).toBe(false);
    expect(valuesUnder(index, 7)).toEqual([2]);
    expect(valuesUnder(index, -5)).toEqual([3]);
    expect(index.size).toBe(2);
  });

  test("find drops the entries its visitor calls stale and still reaches the ones after them", () => {
    const index = new HashIndex();
    for (let v = 1; v <= 6; v++) index.add(42, v);
    const found = index.find(42, (v) => (v === 5 ? "found" : v % 2 === 1 ? "drop" : "next"));
    expect(found).toBe(5);
    // 1 and 3 were visited before 5 and dropped; what comes after 5 was not visited.
    expect(valuesUnder(index, 42)).toEqual([2, 4, 5, 6]);
    expect(index.size).toBe(4);
  });

  test("values must be positive integers (0 marks an empty slot)", () => {
    const index = new HashIndex();
    expect(() => index.add(1, 0)).toThrow(RangeError);
    expect(() => index.add(1, -3)).toThrow(RangeError);
    expect(() => index.add(1, 1.5)).toThrow(RangeError);
    index.add(1, 2 ** 40);
    expect(valuesUnder(index, 1)).toEqual([2 ** 40]);
  });

  test("agrees with a plain list through random adds, deletes and drops, across growth and long runs", () => {
    const next = random(20261204);
    const index = new HashIndex();
    const model: Array<[number, number]> = [];
    // Few distinct hashes, many entries: long probe runs, collisions, and wrap-around at the table's end.
    for (let step = 0; step < 30_000; step++) {
      const r = next();
      const hash = (Math.floor(next() * 300) * 0x9e3779b1) | 0;
      if (r < 0.55) {
        const value = 1 + Math.floor(next() * 50);
        index.add(hash, value);
        model.push([hash, value]);
      } else if (r < 0.85) {
        const value = 1 + Math.floor(next() * 50);
        const at = model.findIndex(([h, v]) => h === hash && v === value);
        expect(index.delete(hash, value)).toBe(at >= 0);
        if (at >= 0) model.splice(at, 1);
      } else {
        // Drop every entry of the hash with an even value.
        index.find(hash, (v) => (v % 2 === 0 ? "drop" : "next"));
        for (let i = model.length - 1; i >= 0; i--) {
          const [h, v] = model[i]!;
          if (h === hash && v % 2 === 0) model.splice(i, 1);
        }
      }
      if (step % 1_000 === 999) {
        expect(index.size).toBe(model.length);
        for (let k = 0; k < 300; k++) {
          const h = (k * 0x9e3779b1) | 0;
          const want = model
            .filter(([mh]) => mh === h)
            .map(([, v]) => v)
            .sort((a, b) => a - b);
          expect(valuesUnder(index, h)).toEqual(want);
          expect(index.has(h)).toBe(want.length > 0);
        }
      }
    }
    expect(model.length).toBeGreaterThan(1_000); // the table grew past its first size
  });

  test("holds a million entries in typed arrays and finds each", () => {
    const index = new HashIndex(1_000_000);
    for (let v = 1; v <= 1_000_000; v++) index.add(fnv1a(`om_${v}`), v);
    let misses = 0;
    for (let v = 1; v <= 1_000_000; v += 997) {
      if (index.find(fnv1a(`om_${v}`), (found) => (found === v ? "found" : "next")) !== v) misses++;
    }
    expect(misses).toBe(0);
    expect(index.size).toBe(1_000_000);
  });

  test("fnv1a is the 32-bit FNV-1a of the key's code units", () => {
    // Published FNV-1a 32 test vectors.
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });
});
