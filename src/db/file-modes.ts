/**
 * The database holds JWT_SECRET and every user's data: its directory is 0700 and its files
 * (relay.db, -wal, -shm, -journal) 0600. New ones are created so; existing looser ones are tightened
 * at start. SQLite gives -wal/-shm the main file's mode, so creating that one 0600 covers the rest.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const SIDE_FILES = ["-wal", "-shm", "-journal"];

export interface Tightened {
  path: string;
  /** Permission bits before and after, as octal strings ("644" → "600"). */
  from: string;
  to: string;
}

const octal = (mode: number) => (mode & 0o777).toString(8);

/**
 * Makes the directory and an empty database file with private modes when missing, and removes group
 * and other bits from existing ones. Returns what was tightened, for the caller to log; a chmod that
 * is not allowed (a directory someone else owns) is reported with `to` = "unchanged".
 */
export function securePaths(dbPath: string): Tightened[] {
  const dir = dirname(dbPath);
  const changed: Tightened[] = [];
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  else tighten(dir, DIR_MODE, changed);
  if (!existsSync(dbPath)) closeSync(openSync(dbPath, "a", FILE_MODE));
  for (const path of [dbPath, ...SIDE_FILES.map((s) => dbPath + s)]) {
    if (existsSync(path)) tighten(path, FILE_MODE, changed);
  }
  return changed;
}

function tighten(path: string, wanted: number, changed: Tightened[]): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const next = mode & wanted;
  try {
    chmodSync(path, next);
    changed.push({ path, from: octal(mode), to: octal(next) });
  } catch {
    changed.push({ path, from: octal(mode), to: "unchanged" });
  }
}
