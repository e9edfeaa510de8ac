/**
 * Per user, the seqs of stored messages that must not be delivered yet (M2-4: their context is
 * being fetched). Delivery reads stop below a user's lowest held seq, so the messages after a held
 * one wait with it and the order per user is kept. Memory only: after a restart nothing is held and
 * rows deliver as they were stored.
 */
export class SeqHolds {
  readonly #byUser = new Map<number, number[]>();

  /** Seqs held right now, all users (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const list of this.#byUser.values()) n += list.length;
    return n;
  }

  /** The user's lowest held seq, or undefined. */
  first(userId: number): number | undefined {
    return this.#byUser.get(userId)?.[0];
  }

  /** Holds `seq`; a user's seqs arrive in increasing order, so the list stays sorted. */
  hold(userId: number, seq: number): void {
    const list = this.#byUser.get(userId);
    if (!list) this.#byUser.set(userId, [seq]);
    else if (seq > list[list.length - 1]!) list.push(seq);
    else {
      const at = list.findIndex((s) => s >= seq);
      if (list[at] !== seq) list.splice(at, 0, seq);
    }
  }

  /** Releases `seq`; true when it was the user's lowest, i.e. delivery may move on. */
  release(userId: number, seq: number): boolean {
    const list = this.#byUser.get(userId);
    const at = list?.indexOf(seq) ?? -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) this.#byUser.delete(userId);
    return at === 0;
  }
}
