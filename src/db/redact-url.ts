/**
 * A PostgreSQL URL as it may be printed. Apart from postgres.ts so the CLI can name the database
 * without loading Bun's SQL client first.
 */

/** The URL without its password, for logs and errors (secrets never appear in logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparseable)";
  }
}
