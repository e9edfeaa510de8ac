/**
 * Request and response schemas of the users feature (TypeBox), so OpenAPI lists every field.
 */

// TypeBox's Integer for what the relay sends: Elysia's t.Integer also takes strings and compiles
// a checker as it is built, ~0.6 ms of every start each (docs/architecture.md).
import { Type } from "@sinclair/typebox";
import { t } from "elysia";

export const UserJson = t.Object({
  id: t.String({ description: "relay user id (the JWT sub)" }),
  openId: t.String(),
  name: t.String(),
  unionId: t.Optional(t.String()),
  avatarUrl: t.Optional(t.String()),
});

const Iso = t.String({ format: "date-time" });

export const VerifyBody = t.Optional(t.Object({ token: t.Optional(t.String({ maxLength: 8192 })) }));
export const VerifyResponse = t.Object({ valid: t.Literal(true), user: UserJson, expiresAt: Iso });
export const TokenResponse = t.Object({ token: t.String(), user: UserJson, expiresAt: Iso });
export const MeResponse = t.Object({
  user: UserJson,
  connected: t.Boolean(),
  pending: Type.Integer(),
  lastSeenAt: t.Union([Iso, t.Null()]),
});

export const OpenId = t.String({ minLength: 3, maxLength: 128, pattern: "^ou_[A-Za-z0-9_-]+$" });

export const AdminCreateBody = t.Object({ openId: OpenId, name: t.Optional(t.String({ maxLength: 200 })) });
export const RevokeResponse = t.Object({ revoked: t.Literal(true), user: UserJson });
export const LlmAssignBody = t.Object({ provider: t.Union([t.String({ maxLength: 64 }), t.Null()]) });
export const LlmAssignResponse = t.Object({ user: UserJson, provider: t.Union([t.String(), t.Null()]) });
/** A user named in a path: numeric id or open_id. */
export const UserRef = t.Object({ id: t.String({ minLength: 1, maxLength: 128 }) });
export const AdminTokenResponse = t.Object({ user: UserJson, token: t.String(), expiresAt: Iso });

export const SignInResponse = t.Object({ token: t.String(), user: UserJson, relayUrl: t.String() });

/** What Feishu appends to an OAuth redirect (user and admin sign-in alike); extra fields pass. */
export const OAuthCallbackQuery = t.Object(
  {
    code: t.Optional(t.String({ maxLength: 1024 })),
    state: t.Optional(t.String({ maxLength: 256 })),
    error: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
);
