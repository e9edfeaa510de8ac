/** A bounded set of ids: past `max`, the oldest is forgotten (a Map keeps insertion order). */
export class RecentIds {
  readonly #ids = new Map<string, true>();

  constructor(private readonly max: number) {}

  add(id: string): void {
    this.#ids.set(id, true);
    for (const oldest of this.#ids.keys()) {
      if (this.#ids.size <= this.max) break;
      this.#ids.delete(oldest);
    }
  }

  /** True (and forgets it) when `id` was remembered. */
  settle(id: string): boolean {
    return this.#ids.delete(id);
  }
}
