/**
 * A route's body schema, checked by us before Elysia's own check (as the route's `transform` hook,
 * which runs before validation). Elysia 1.4 builds its validation message with `${value}`, which
 * throws for an object whose `toString` is not a function: `{"to":{"toString":1}}` answered 500.
 * TypeBox's messages never stringify the value, so a bad body gets 400 `invalid_request` here and
 * Elysia's check, which keeps the schema in the OpenAPI document, then always passes.
 */
import { OptionalKind, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { HttpError } from "./errors.ts";

export function bodyMatches<S extends TSchema>(schema: S) {
  const optional = (schema as { [OptionalKind]?: string })[OptionalKind] === "Optional";
  return ({ body }: { body: unknown }): void => {
    if (body === undefined && optional) return;
    // Elysia drops unknown properties before its check (its schemas become additionalProperties:
    // false); so do we, on a copy: the body itself is left to Elysia.
    const cleaned = Value.Clean(schema, structuredClone(body));
    if (Value.Check(schema, cleaned)) return;
    throw new HttpError(400, "invalid_request", schemaProblem(schema, cleaned));
  };
}

/** `/to: Expected string`: the first mismatch, in the words of the app's other validation errors. */
export function schemaProblem<S extends TSchema>(schema: S, value: unknown): string {
  const first = Value.Errors(schema, value).First();
  return first ? `${first.path || "body"}: ${first.message}` : "request does not match the schema";
}
