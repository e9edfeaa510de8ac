/**
 * Work taken in turns per key: each `run` for a key starts once that key's earlier work has settled
 * (resolved or rejected); different keys run side by side. What one user's sends (outbox.ts) and one
 * user's dropped-message notices (ingest-notices.ts) need when each step is a database round trip
 * that could overtake the one before. A key's entry is dropped once its last work settles.
 */
export class KeyedTurns<K> {
  /** Per key, the last work queued, settled either way (a failure does not stop the next turn). */
  readonly #tails = new Map<K, Promise<void>>();

  run<T>(key: K, work: () => Promise<T> | T): Promise<T> {
    const mine = (this.#tails.get(key) ?? Promise.resolve()).then(work);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, settled);
    settled.then(() => {
      if (this.#tails.get(key) === settled) this.#tails.delete(key);
    });
    return mine;
  }

  /** Resolves once every turn queued so far, and any queued while waiting, has settled. */
  async idle(): Promise<void> {
    while (this.#tails.size) await Promise.all(this.#tails.values());
  }

  /** Keys with work under way or queued. */
  get size(): number {
    return this.#tails.size;
  }
}
