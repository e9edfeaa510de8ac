import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { FULL_SCANS, INBOX_SQL, type InboxStatement } from "../../src/relay/inbox-sql-sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "inbox-sql-"));
const db = openDatabase(join(dir, "relay.db"));
migrate(db);
const sqlite = db.$client;
afterAll(() => {
  sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

const plan = (sql: string) =>
  sqlite
    .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`)
    .all()
    .map((r) => r.detail);

describe("the inbox's hot-path statements against the migrated schema", () => {
  for (const name of Object.keys(INBOX_SQL) as InboxStatement[]) {
    test(`${name} prepares${FULL_SCANS.has(name) ? "" : " and searches by an index"}`, () => {
      const sql = INBOX_SQL[name];
      expect(() => sqlite.prepare(sql).finalize()).not.toThrow();
      if (FULL_SCANS.has(name)) return;
      // `SCAN <table>` reads every row; json_each is the batch's own key list, and `SCAN CONSTANT
      // ROW` the one row of a SELECT without FROM.
      const scans = plan(sql).filter((d) => /^SCAN (?!json_each|CONSTANT ROW)/.test(d));
      expect(scans).toEqual([]);
    });
  }

  test("a statement that reads the whole table is seen as one (the check above can fail)", () => {
    expect(plan("SELECT payload FROM inbox WHERE chat_id = 'oc_x'").filter((d) => /^SCAN /.test(d))).toEqual([
      "SCAN inbox",
    ]);
  });

  test("the searches use the indexes they were written for", () => {
    expect(plan(INBOX_SQL.pending).join("\n")).toContain("USING INDEX inbox_user_seq");
    expect(plan(INBOX_SQL.pruneAcked).join("\n")).toContain("USING INTEGER PRIMARY KEY (rowid<?)");
    expect(plan(INBOX_SQL.rowFrom).join("\n")).toContain("USING INTEGER PRIMARY KEY (rowid>?)");
    // min() and max() of the rowid each read one end of the table (SQLite's min/max optimisation).
    expect(plan(INBOX_SQL.rowRange).filter((d) => d.startsWith("SEARCH"))).toEqual([
      "SEARCH inbox",
      "SEARCH inbox",
    ]);
    expect(plan(INBOX_SQL.takeSeqs).join("\n")).toContain("USING INTEGER PRIMARY KEY");
    expect(plan(INBOX_SQL.storedRow).join("\n")).toContain("USING INTEGER PRIMARY KEY");
    expect(plan(INBOX_SQL.marks).join("\n")).toMatch(/SEARCH seen_events USING .*INDEX/);
  });

  test("message_id and received_at have no index: MessageIds and the rowid stand in for them", () => {
    const indexes = sqlite
      .query<{ name: string }, []>("SELECT name FROM pragma_index_list('inbox')")
      .all()
      .map((r) => r.name)
      .sort();
    expect(indexes).toEqual(["inbox_user_seq"]);
  });
});
