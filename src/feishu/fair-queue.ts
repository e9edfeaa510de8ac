/**
 * Waiters grouped by owner and served round-robin: each owner with someone waiting gets one turn
 * per round, whatever the length of its queue, and each owner's own waiters keep their order.
 * One user's thousand queued sends therefore delay another user's reply by one turn, not a
 * thousand. Pure data structure, O(1) per operation (a Map keeps the rotation order).
 */
export class FairQueue<T> {
  /** Owner → its waiters, oldest first; the Map's order is the rotation. */
  readonly #lanes = new Map<string, T[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(owner: string, item: T): void {
    const lane = this.#lanes.get(owner);
    if (lane) lane.push(item);
    else this.#lanes.set(owner, [item]);
    this.#size++;
  }

  /** The oldest waiter of the owner whose turn it is; that owner goes to the back of the rotation. */
  shift(): T | undefined {
    for (const [owner, lane] of this.#lanes) {
      const item = lane.shift();
      this.#lanes.delete(owner);
      if (lane.length > 0) this.#lanes.set(owner, lane);
      if (item === undefined) continue;
      this.#size--;
      return item;
    }
    return undefined;
  }

  /** Drops one waiter (it gave up); true when it was still queued. */
  remove(owner: string, item: T): boolean {
    const lane = this.#lanes.get(owner);
    const at = lane ? lane.indexOf(item) : -1;
    if (!lane || at < 0) return false;
    lane.splice(at, 1);
    if (lane.length === 0) this.#lanes.delete(owner);
    this.#size--;
    return true;
  }
}
