import { describe, expect, test } from "bun:test";
import { AdminSessions, cameOverHttps, SESSION_TTL_MS, sessionCookie } from "../../src/admin/sessions.ts";

const peer = (address: string) => ({ requestIP: () => ({ address }) });
const request = (headers: Record<string, string> = {}) =>
  new Request("http://relay.local/admin", { headers });

describe("console sessions", () => {
  test("https: PUBLIC_URL, or X-Forwarded-Proto from a proxy on this host only", () => {
    const proto = { "x-forwarded-proto": "https" };
    expect(cameOverHttps(request(), null, "https://relay.example")).toBe(true);
    expect(cameOverHttps(request(proto), peer("127.0.0.1"), "http://relay.example")).toBe(true);
    expect(cameOverHttps(request(proto), peer("203.0.113.9"), "http://relay.example")).toBe(false);
    expect(cameOverHttps(request({ "x-forwarded-proto": "http" }), peer("::1"), "http://relay.example")).toBe(
      false,
    );
    expect(cameOverHttps(request(), peer("127.0.0.1"), "http://relay.example")).toBe(false);
  });

  test("the cookie carries only an opaque id; the store keeps its hash, until the session expires", async () => {
    const rows = new Map<string, { value: string; expiresAt: number }>();
    let now = 1_000_000;
    const kv = {
      set: async (k: string, value: string, expiresAt?: number | null) =>
        void rows.set(k, { value, expiresAt: expiresAt! }),
      get: async (k: string) => {
        const r = rows.get(k);
        return r && r.expiresAt > now ? r.value : undefined;
      },
      delete: async (k: string) => void rows.delete(k),
      pruneExpired: async () => 0,
    };
    const sessions = new AdminSessions(kv, () => now);
    const { id, session } = await sessions.create("ou_admin", "Admin");
    expect([...rows.keys()].some((k) => k.includes(id))).toBe(false);
    expect(JSON.stringify([...rows.values()])).not.toContain(id);
    expect(await sessions.get(id)).toEqual(session);
    expect(await sessions.get(`${id}x`)).toBeUndefined();
    now += SESSION_TTL_MS;
    expect(await sessions.get(id)).toBeUndefined();
    expect(sessionCookie(id, SESSION_TTL_MS, false)).toBe(
      `oc_admin=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800`,
    );
  });
});
