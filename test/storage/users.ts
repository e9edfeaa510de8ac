/** A user row in either dialect, for store tests whose rows reference `users`. */
import type { Storage } from "../../src/storage/storage.ts";

export async function addUser(storage: Storage, openId: string): Promise<number> {
  if (storage.dialect === "sqlite") {
    const row = storage.db.$client
      .query<{ id: number }, [string]>("INSERT INTO users (open_id) VALUES (?) RETURNING id")
      .get(openId);
    return row!.id;
  }
  const [row] = await storage.db.$client`INSERT INTO users (open_id) VALUES (${openId}) RETURNING id`;
  return Number(row.id);
}
