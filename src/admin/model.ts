/** Schemas of the console's JSON endpoints (TypeBox), so OpenAPI lists every field. */

// TypeBox's Integer for what the relay sends: Elysia's t.Integer also takes strings and compiles
// a checker as it is built, ~0.6 ms of every start each (docs/architecture.md).
import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { ClusterHealth } from "../ops/health.ts";

const Iso = t.String({ format: "date-time" });

export const ConsoleUserJson = t.Object({
  id: t.String(),
  openId: t.String(),
  name: t.String(),
  connected: t.Boolean(),
  pending: Type.Integer(),
  lastSeenAt: t.Union([Iso, t.Null()]),
  revoked: t.Boolean({ description: "every token of the user was revoked and none was issued since" }),
  revocations: Type.Integer(),
  llmProvider: t.Union([t.String(), t.Null()]),
  createdAt: Iso,
});

export const UsersQuery = t.Object({
  q: t.Optional(t.String({ maxLength: 200, description: "id, open_id or part of the name" })),
});

export const ConsoleUsersResponse = t.Object({
  users: t.Array(ConsoleUserJson),
  llmProviders: t.Array(t.String(), { description: "names declared in LLM_PROVIDERS" }),
});

const Series = t.Object({
  start: Type.Integer({ description: "Unix ms of the first minute" }),
  perMinute: t.Array(Type.Integer(), { description: "counts per minute, oldest first; the last is partial" }),
});

export const OverviewResponse = t.Object({
  version: t.String(),
  uptimeSec: Type.Integer(),
  startedAt: Iso,
  feishu: t.Object({
    status: t.Union([t.Literal("ok"), t.Literal("unconfigured"), t.Literal("failing")]),
    lastError: t.Union([t.Object({ time: t.String(), event: t.String(), message: t.String() }), t.Null()]),
  }),
  plugins: t.Object({
    connected: Type.Integer(),
    users: t.Array(t.Object({ id: t.String(), name: t.String(), openId: t.String() })),
  }),
  rates: t.Object({ events: Series, sends: Series }),
  outbox: t.Object({
    backlog: Type.Integer(),
    failedLastHour: Type.Integer(),
    lastFailure: t.Union([t.Object({ at: Iso, code: t.String(), message: t.String() }), t.Null()]),
  }),
  inboxPending: t.Array(
    t.Object({ id: t.String(), openId: t.String(), name: t.String(), pending: Type.Integer() }),
  ),
  nodes: ClusterHealth.properties.nodes,
});

export const RecentErrorsResponse = t.Object({
  entries: t.Array(
    t.Object({
      time: t.String(),
      level: t.Union([t.Literal("warn"), t.Literal("error")]),
      event: t.String(),
      fields: t.Record(t.String(), t.Unknown()),
    }),
  ),
});

export const SessionBody = t.Object({ token: t.String({ minLength: 1, maxLength: 1024 }) });
export const SessionResponse = t.Object({
  subject: t.String(),
  name: t.String(),
  csrfToken: t.String(),
  expiresAt: Iso,
});
