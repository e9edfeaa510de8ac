/**
 * Where an `error` answering a `draft` goes. Drafts get no answer when all is well, so the routes
 * of the newest drafts are kept in a bounded map instead of being settled: an error names its
 * draft's id, and an id we no longer remember is just logged.
 */
export type DraftErrorHandler = (code: string, message: string) => void;

export class DraftRoutes {
  readonly #routes = new Map<string, DraftErrorHandler>();

  constructor(private readonly max: number) {}

  add(id: string, onError: DraftErrorHandler): void {
    this.#routes.delete(id);
    this.#routes.set(id, onError);
    for (const oldest of this.#routes.keys()) {
      if (this.#routes.size <= this.max) break;
      this.#routes.delete(oldest);
    }
  }

  /** Hands an error to its draft's stream; false when the id is not a draft we remember. */
  fail(id: string, code: string, message: string): boolean {
    const onError = this.#routes.get(id);
    if (!onError) return false;
    this.#routes.delete(id);
    try {
      onError(code, message);
    } catch {
      // A stream's bookkeeping must never break frame handling.
    }
    return true;
  }

  /** A new connection: errors for drafts of the old one cannot arrive any more. */
  clear(): void {
    this.#routes.clear();
  }
}
