/**
 * A multimap from 32-bit hashes to positive integers, kept in two typed arrays (open addressing,
 * linear probing, deletion by backward shift). The SQLite inbox's in-memory indexes (message id →
 * row, dedupe marks) hold one entry per stored message or mark: hundreds of thousands on a busy
 * relay. As a `Map` each entry was a GC cell and its key a retained string, and the map, written by
 * every commit, was rescanned by every young-generation collection: at c=64 those pauses averaged
 * 4.5 ms against 0.9 ms with the map emptied (docs/architecture.md). Typed arrays hold no references,
 * so the collector never looks inside them, and an entry costs 12 bytes (24 at the highest load).
 *
 * Several entries may share a hash, and even a hash and a value: callers verify what a hash finds
 * (the row it names) and remove exactly the entry they added. Pure: no I/O.
 */

/** Grows (doubles) when entries would fill more than half the slots: probes stay short. */
const MAX_LOAD = 0.5;
const MIN_SLOTS = 1024;

export class HashIndex {
  #hashes: Int32Array;
  /** 0 marks an empty slot, which is why values must be positive. */
  #values: Float64Array;
  #mask: number;
  #size = 0;

  constructor(expected = 0) {
    let slots = MIN_SLOTS;
    while (expected > slots * MAX_LOAD) slots *= 2;
    this.#hashes = new Int32Array(slots);
    this.#values = new Float64Array(slots);
    this.#mask = slots - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Adds an entry (a value already under this hash is added again, not merged). */
  add(hash: number, value: number): void {
    if (!(value > 0) || !Number.isSafeInteger(value))
      throw new RangeError(`HashIndex value must be a positive integer: ${value}`);
    if (this.#size + 1 > (this.#mask + 1) * MAX_LOAD) this.#grow();
    this.#insert(hash | 0, value);
    this.#size += 1;
  }

  /** Whether any entry has this hash. */
  has(hash: number): boolean {
    return this.#slotOf(hash | 0, 0) >= 0;
  }

  /**
   * The values under `hash`, one at a time, to `visit`, which answers what to do with each: "found"
   * stops and returns that value, "drop" removes the entry and goes on, "next" goes on. Undefined when
   * no entry was found.
   */
  find(hash: number, visit: (value: number) => "found" | "drop" | "next"): number | undefined {
    const h = hash | 0;
    const hashes = this.#hashes;
    const values = this.#values;
    let i = this.#home(h);
    for (;;) {
      const value = values[i]!;
      if (value === 0) return undefined;
      if (hashes[i] === h) {
        const verdict = visit(value);
        if (verdict === "found") return value;
        if (verdict === "drop") {
          // The next entry of the run has moved into slot i (or i is now empty): look at i again.
          this.#removeAt(i);
          continue;
        }
      }
      i = (i + 1) & this.#mask;
    }
  }

  /** Removes one entry with this hash and value; false when there is none. */
  delete(hash: number, value: number): boolean {
    const i = this.#slotOf(hash | 0, value);
    if (i < 0) return false;
    this.#removeAt(i);
    return true;
  }

  #home(h: number): number {
    // FNV's low bits alone cluster; a murmur3 finaliser spreads them over the slots.
    let x = h;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    return x & this.#mask;
  }

  /** The slot of an entry with hash `h` (and `value`, unless 0: any value); -1 when none. */
  #slotOf(h: number, value: number): number {
    const hashes = this.#hashes;
    const values = this.#values;
    let i = this.#home(h);
    for (;;) {
      const v = values[i]!;
      if (v === 0) return -1;
      if (hashes[i] === h && (value === 0 || v === value)) return i;
      i = (i + 1) & this.#mask;
    }
  }

  #insert(h: number, value: number): void {
    const values = this.#values;
    let i = this.#home(h);
    while (values[i] !== 0) i = (i + 1) & this.#mask;
    this.#hashes[i] = h;
    values[i] = value;
  }

  /**
   * Empties slot i and moves back each later entry of the run that slot i would cut off from its
   * home slot, so that every lookup still finds what it looks for without tombstones.
   */
  #removeAt(slot: number): void {
    const hashes = this.#hashes;
    const values = this.#values;
    const mask = this.#mask;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      if (values[j] === 0) break;
      const home = this.#home(hashes[j]!);
      // The entry at j stays only if its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      hashes[hole] = hashes[j]!;
      values[hole] = values[j]!;
      hole = j;
    }
    hashes[hole] = 0;
    values[hole] = 0;
    this.#size -= 1;
  }

  #grow(): void {
    const hashes = this.#hashes;
    const values = this.#values;
    const slots = (this.#mask + 1) * 2;
    this.#hashes = new Int32Array(slots);
    this.#values = new Float64Array(slots);
    this.#mask = slots - 1;
    for (let i = 0; i < values.length; i++) if (values[i] !== 0) this.#insert(hashes[i]!, values[i]!);
  }
}

/** FNV-1a over UTF-16 code units: the keys hashed here are short ASCII ids (`om_…`, `e:<event_id>`). */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
