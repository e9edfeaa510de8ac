/**
 * What routes declare in their `detail` for the OpenAPI document: security requirements and response
 * shapes. Kept apart from openapi-document.ts, which is loaded only when the document is first asked
 * for, so declaring routes does not load the generator.
 */

type Json = Record<string, unknown>;

/** TypeBox schemas carry symbol keys and functions; the document wants plain JSON. */
export const plain = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema));

/** For a route's `detail.responses`: a refusal in the error shape. */
export const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

/** For a route's `detail.responses`: a JSON answer (documentation only; nothing validates it). */
export const jsonResponse = (description: string, schema: unknown) => ({
  description,
  content: { "application/json": { schema: plain(schema) as Json } },
});

/** For a route's `detail.security`. */
export const BEARER = [{ bearer: [] as string[] }];
export const ADMIN = [{ adminToken: [] as string[] }];
