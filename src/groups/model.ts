/**
 * Request and response schemas of the group bindings admin API (TypeBox), so OpenAPI lists every field.
 */

// TypeBox's Integer for what the relay sends: Elysia's t.Integer also takes strings and compiles
// a checker as it is built, ~0.6 ms of every start each (docs/architecture.md).
import { Type } from "@sinclair/typebox";
import { t } from "elysia";

/** A Feishu group chat id (`oc_…`). */
export const ChatId = t.String({ minLength: 4, maxLength: 128, pattern: "^oc_[A-Za-z0-9_-]+$" });

const Iso = t.String({ format: "date-time" });

export const ChatBindingJson = t.Object({
  chatId: t.String(),
  ownerUserId: Type.Integer({ description: "relay user id of the owner" }),
  ownerOpenId: t.String(),
  ownerName: t.String(),
  requireMention: t.Boolean({
    description: "false: every group message goes to the owner (needs the im:message.group_msg scope)",
  }),
  boundBy: t.String({ description: "`open_id:<ou_…>` (self-service /bind) or `admin`" }),
  createdAt: Iso,
  updatedAt: Iso,
  name: t.Optional(t.String({ description: "the group's name, when the relay has it cached" })),
});

export const ChatsResponse = t.Object({ chats: t.Array(ChatBindingJson) });
export const ChatRef = t.Object({ chatId: t.String({ minLength: 1, maxLength: 128 }) });
export const ChatBindBody = t.Object({
  ownerUserId: t.Integer({ minimum: 1 }),
  requireMention: t.Optional(t.Boolean({ default: true })),
});
