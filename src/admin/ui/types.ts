/** The JSON the console reads (the server's schemas are in src/admin/model.ts). */
export interface Series {
  start: number;
  perMinute: number[];
}

export interface Overview {
  version: string;
  uptimeSec: number;
  feishu: {
    status: "ok" | "unconfigured" | "failing";
    lastError: { time: string; event: string; message: string } | null;
  };
  plugins: { connected: number; users: Array<{ id: string; name: string; openId: string }> };
  rates: { events: Series; sends: Series };
  outbox: {
    backlog: number;
    failedLastHour: number;
    lastFailure: { at: string; code: string; message: string } | null;
  };
  inboxPending: Array<{ id: string; openId: string; name: string; pending: number }>;
}

export interface ConsoleUser {
  id: string;
  openId: string;
  name: string;
  connected: boolean;
  pending: number;
  lastSeenAt: string | null;
  revoked: boolean;
  revocations: number;
  llmProvider: string | null;
}

export interface Chat {
  chatId: string;
  name?: string;
  ownerUserId: string | number;
  ownerName?: string;
  ownerOpenId?: string;
  requireMention: boolean;
  boundBy: string;
  updatedAt: string;
}

export interface RecentEntry {
  time: string;
  level: "warn" | "error";
  event: string;
  fields: Record<string, unknown>;
}
