/**
 * The database holds JWT_SECRET and every user's data: its directory is 0700 and its files
 * (relay.db, -wal, -shm, -journal) 0600. New ones are created so; existing looser ones are tightened
 * at start. SQLite gives -wal/-shm the main file's mode, so creating that one 0600 covers the rest.
 *
 * An existing directory is tightened only when it is the relay's own: not a shared one (sticky bit,
 * like /tmp) and holding nothing but the database, its side files and the media folder. A
 * DATABASE_PATH of /tmp/relay.db, /var/lib/relay.db or relay.db (the working directory) used to turn
 * that whole directory 0700, which breaks every other user of it; such a directory is left as it is
 * and reported, and the files themselves are still 0600.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const SIDE_FILES = ["-wal", "-shm", "-journal"];
/** The folder beside the database where uploaded media is kept (media/media-store.ts). */
export const MEDIA_FOLDER = "media";
const STICKY = 0o1000;

export interface Tightened {
  path: string;
  /** Permission bits before and after, as octal strings ("644" → "600"); "unchanged" when left. */
  from: string;
  to: string;
  /** Why a too-open path was left: the chmod was refused, or the directory is not the relay's own. */
  reason?: "not_permitted" | "shared_directory";
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
  else tighten(dir, DIR_MODE, changed, ownDirectory(dir, dbPath) ? undefined : "shared_directory");
  if (!existsSync(dbPath)) closeSync(openSync(dbPath, "a", FILE_MODE));
  for (const path of [dbPath, ...SIDE_FILES.map((s) => dbPath + s)]) {
    if (existsSync(path)) tighten(path, FILE_MODE, changed);
  }
  return changed;
}

/** Not sticky, and nothing in it but the database, its side files and the media folder. */
function ownDirectory(dir: string, dbPath: string): boolean {
  if ((statSync(dir).mode & STICKY) !== 0) return false;
  const base = basename(dbPath);
  const own = new Set([base, ...SIDE_FILES.map((s) => base + s), MEDIA_FOLDER]);
  return readdirSync(dir).every((entry) => own.has(entry));
}

/** Removes group and other bits, or, given a reason to leave the path as it is, only reports it. */
function tighten(path: string, wanted: number, changed: Tightened[], leave?: "shared_directory"): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  if (leave) {
    changed.push({ path, from: octal(mode), to: "unchanged", reason: leave });
    return;
  }
  const next = mode & wanted;
  try {
    chmodSync(path, next);
    changed.push({ path, from: octal(mode), to: octal(next) });
  } catch {
    changed.push({ path, from: octal(mode), to: "unchanged", reason: "not_permitted" });
  }
}
