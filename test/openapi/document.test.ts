import { describe, expect, test } from "bun:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";

type Operation = {
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, { $ref?: string; content?: Record<string, { schema?: unknown }> }>;
  parameters?: Array<{ name: string; in: string }>;
};
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, unknown>;
    responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
  };
};

// Every feature mounted: Feishu configured (OAuth, webhook) and an admin token (admin routes).
const { r } = await relayWithFeishu({ ADMIN_TOKEN: "admin-token-0123456789", FEISHU_EVENT_MODE: "webhook" });
const doc = (await (await r.relay.app.handle(new Request("http://localhost/swagger/json"))).json()) as Doc;
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ path, method, op })),
);

describe("OpenAPI document", () => {
  test("validates against the OpenAPI 3.1 schema", async () => {
    expect(doc.openapi).toStartWith("3.1.");
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test("declares every security scheme an operation uses", () => {
    const used = new Set(operations.flatMap(({ op }) => (op.security ?? []).flatMap((s) => Object.keys(s))));
    expect([...used]).toEqual(expect.arrayContaining(["adminToken", "bearer"]));
    for (const name of used)
      expect({ name, declared: name in doc.components.securitySchemes }).toEqual({ name, declared: true });
  });

  test("every operation lists 4xx responses in the error shape", () => {
    expect(operations.length).toBeGreaterThan(15);
    for (const { path, method, op } of operations) {
      const errors = Object.keys(op.responses ?? {}).filter((s) => s.startsWith("4"));
      expect({ path, method, errors: errors.length > 0 }).toEqual({ path, method, errors: true });
      for (const status of errors) {
        const res = op.responses![status]!;
        const named = res.$ref ? doc.components.responses[res.$ref.split("/").pop()!] : res;
        expect(named?.content?.["application/json"]?.schema).toEqual({ $ref: "#/components/schemas/Error" });
      }
    }
  });

  test("secured operations document the 401", () => {
    for (const { path, method, op } of operations) {
      const needsToken = (op.security ?? []).every((s) => Object.keys(s).length > 0);
      if (op.security && needsToken)
        expect({ path, method, has401: !!op.responses?.["401"] }).toEqual({ path, method, has401: true });
    }
  });

  test("/api/messages: bearer auth, JSON body and its answers", () => {
    const op = doc.paths["/api/messages"]!.post!;
    expect(op.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(op.responses!)).toEqual(expect.arrayContaining(["200", "202", "400", "401", "429"]));
    expect(op.responses!["200"]!.content!["application/json"]!.schema).toMatchObject({
      type: "object",
      required: ["messageId", "messageIds"],
    });
  });

  test("the plugin WebSocket is a GET answered 101, with no `ws` method", () => {
    for (const item of Object.values(doc.paths)) expect(Object.keys(item)).not.toContain("ws");
    const op = doc.paths["/openclaw"]!.get!;
    expect(op.responses!["101"]).toBeDefined();
    expect(op.security).toEqual([{ bearer: [] }]);
    expect(op.parameters!.map((p) => `${p.in}:${p.name}`)).toContain("header:Upgrade");
  });

  test("the docs routes themselves are not in the document", () => {
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/swagger"))).toEqual([]);
  });
});
