/**
 * The OpenAPI 3.1 document: generated from the routes by @elysiajs/openapi, then finished here so it
 * validates and says what clients meet — declared security schemes, the error shape on every
 * operation, JSON request bodies (our own body parser hides them from the generator) and the plugin
 * WebSocket as the GET + Upgrade it is on the wire (OpenAPI has no `ws` method).
 */
import { toOpenAPISchema } from "@elysiajs/openapi";
import { Kind } from "@sinclair/typebox";
import type { AnyElysia } from "elysia";
import { plain } from "./openapi-detail.ts";

type Json = Record<string, unknown>;
type Operation = Json & {
  parameters?: Array<Json & { in: string }>;
  requestBody?: { content?: Json };
  responses?: Record<string, unknown>;
  security?: Array<Record<string, string[]>>;
};

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

export const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", description: "stable, machine-readable (e.g. invalid_request)" },
        message: { type: "string", description: "for people; may change" },
      },
    },
  },
} as const;

export const SECURITY_SCHEMES = {
  bearer: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A user's relay token (from Feishu sign-in or `users add`); the OpenClaw plugin sends it.",
  },
  adminToken: {
    type: "http",
    scheme: "bearer",
    description: "The relay's ADMIN_TOKEN.",
  },
} as const;

/** Refusals by status, each in the `{"error":{"code","message"}}` shape. */
const ERRORS: Record<string, string> = {
  "400": "Invalid request (body, parameters or headers)",
  "401": "Missing, invalid, expired or revoked token",
  "404": "No such resource",
  "413": "Request body too large",
  "4XX": "Any other refusal (e.g. 429 with Retry-After)",
};

const errorRef = (status: string) => ({ $ref: `#/components/responses/Error${status}` });

export function buildOpenApiDocument(app: AnyElysia, version: string): Json {
  const generated = toOpenAPISchema(app, undefined, undefined, undefined, "3.1.1");
  const paths = generated.paths as Record<string, Record<string, Operation>>;
  addJsonBodies(app, paths);
  return finishDocument({ paths, schemas: generated.components.schemas ?? {} }, version);
}

/** Pure: the generator's paths and schemas → a complete document. */
export function finishDocument(
  generated: { paths: Record<string, Record<string, Operation>>; schemas: Json },
  version: string,
): Json {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [path, item] of Object.entries(generated.paths)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(item)) {
      if (method === "ws") paths[path].get = withErrors(webSocketOperation(op));
      else if (METHODS.includes(method)) paths[path][method] = withErrors(op);
    }
  }
  return {
    openapi: "3.1.1",
    info: {
      title: "OpenClaw Relay",
      version,
      description: "One shared Feishu bot, many users, each with their own OpenClaw agent.",
    },
    paths,
    components: {
      schemas: { ...generated.schemas, Error: ERROR_SCHEMA },
      securitySchemes: SECURITY_SCHEMES,
      responses: Object.fromEntries(
        Object.entries(ERRORS).map(([status, description]) => [
          `Error${status}`,
          {
            description,
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        ]),
      ),
    },
  };
}

/** Adds the error responses an operation can meet, keeping any it declares itself. */
function withErrors(op: Operation): Operation {
  const responses: Record<string, unknown> = { ...(op.responses ?? {}) };
  const add = (status: string) => {
    if (!responses[status]) responses[status] = errorRef(status);
  };
  const params = op.parameters ?? [];
  if (op.requestBody || params.length > 0) add("400");
  if ((op.security ?? []).some((req) => Object.keys(req).length > 0)) add("401");
  if (params.some((p) => p.in === "path")) add("404");
  if (op.requestBody) add("413");
  add("4XX");
  if (!Object.keys(responses).some((s) => s.startsWith("2") || s.startsWith("1") || s.startsWith("3")))
    responses["200"] = { description: "OK" };
  return { ...op, responses };
}

/** The plugin socket as HTTP sees it: a GET asking for an upgrade, answered 101 or refused. */
function webSocketOperation(op: Operation): Operation {
  return {
    ...op,
    operationId: "openPluginSocket",
    description: `${op.description ?? ""}

A WebSocket upgrade (RFC 6455): send \`GET /openclaw\` with \`Connection: Upgrade\`, \`Upgrade: websocket\`, \`Sec-WebSocket-Key\` and \`Sec-WebSocket-Version: 13\`, and the user token as \`Authorization: Bearer …\` (or \`?token=\` where headers cannot be set). After \`101 Switching Protocols\` both sides exchange JSON frames of protocol v1; a refused upgrade is an ordinary HTTP error.`.trim(),
    security: [{ bearer: [] }],
    parameters: [
      { name: "Upgrade", in: "header", required: true, schema: { type: "string", const: "websocket" } },
      { name: "Connection", in: "header", required: true, schema: { type: "string", const: "Upgrade" } },
      {
        name: "token",
        in: "query",
        required: false,
        description: "The user token, for clients that cannot set Authorization",
        schema: { type: "string" },
      },
    ],
    responses: {
      "101": { description: "Switching Protocols: the plugin socket is open" },
      "429": errorRef("4XX"),
    },
  };
}

/**
 * The app parses JSON bodies itself (onParse, for size and depth limits), so the generator cannot
 * tell their media type and leaves `content` empty: the route's TypeBox body schema is JSON.
 */
function addJsonBodies(app: AnyElysia, paths: Record<string, Record<string, Operation>>) {
  for (const route of app.routes) {
    const body = (route.hooks as { body?: unknown } | undefined)?.body;
    if (!body || typeof body !== "object" || !(Kind in body)) continue;
    const path = route.path.replace(/:([^/]+)/g, "{$1}");
    const op = paths[path]?.[route.method.toLowerCase()];
    if (!op?.requestBody || Object.keys(op.requestBody.content ?? {}).length > 0) continue;
    op.requestBody = { ...op.requestBody, content: { "application/json": { schema: plain(body) } } };
  }
}
