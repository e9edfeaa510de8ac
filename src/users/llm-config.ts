/**
 * LLM settings handed to users by `GET /api/config` (DESIGN §5). Providers are declared in
 * LLM_PROVIDERS (inline JSON or a path to a JSON file), validated once at start-up; a user gets the
 * provider an admin assigned (users.llm_provider), else LLM_DEFAULT_PROVIDER, else the first declared.
 * Extra fields of a provider are passed through, so a new provider or option needs no code change.
 * This hands the API key to the user's machine: only declare keys you are willing to share.
 */
import { readFileSync } from "node:fs";
import { Elysia, t } from "elysia";
import { type Config, ConfigError } from "../config/definition.ts";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { authenticate } from "./tokens.ts";
import type { UserRecord } from "./user-store.ts";

export interface LlmProvider {
  name: string;
  baseUrl: string;
  apiKey: string;
  model: string;
  api?: string;
  /** Any other declared fields (headers, context window, …), passed through as given. */
  extra: Record<string, unknown>;
}

export const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KNOWN = new Set(["baseUrl", "apiKey", "model", "api"]);

export class LlmConfig {
  constructor(
    readonly providers: ReadonlyMap<string, LlmProvider>,
    readonly defaultName: string | undefined,
  ) {}

  /** Parses and validates; throws ConfigError naming LLM_PROVIDERS or LLM_DEFAULT_PROVIDER. */
  static fromConfig(config: Pick<Config, "LLM_PROVIDERS" | "LLM_DEFAULT_PROVIDER">): LlmConfig {
    const providers = parseProviders(config.LLM_PROVIDERS);
    const wanted = config.LLM_DEFAULT_PROVIDER;
    if (wanted && !providers.has(wanted)) {
      const known = [...providers.keys()].join(", ") || "none declared in LLM_PROVIDERS";
      throw new ConfigError("LLM_DEFAULT_PROVIDER", `"${wanted}" is not a declared provider (${known})`);
    }
    return new LlmConfig(providers, wanted ?? providers.keys().next().value);
  }

  has(name: string): boolean {
    return this.providers.has(name);
  }

  /** The user's assigned provider when it still exists, else the default; undefined if none declared. */
  forUser(user: Pick<UserRecord, "llmProvider">): LlmProvider | undefined {
    const assigned = user.llmProvider ? this.providers.get(user.llmProvider) : undefined;
    return assigned ?? (this.defaultName ? this.providers.get(this.defaultName) : undefined);
  }
}

function parseProviders(value: string | undefined): Map<string, LlmProvider> {
  const out = new Map<string, LlmProvider>();
  if (!value) return out;
  const bad = (message: string): never => {
    throw new ConfigError("LLM_PROVIDERS", message);
  };
  let text = value.trim();
  if (!text.startsWith("{")) {
    try {
      text = readFileSync(text, "utf8");
    } catch {
      bad(`is neither a JSON object nor a readable file path ("${value}")`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never echo the text: it holds API keys.
    bad("is not valid JSON");
  }
  if (!isObject(parsed)) return bad('must be a JSON object {"name": {"baseUrl", "apiKey", "model"}}');
  for (const [name, p] of Object.entries(parsed)) {
    if (!PROVIDER_NAME.test(name)) bad(`provider name "${name}" must be letters, digits, . _ -`);
    if (!isObject(p)) return bad(`provider "${name}" must be an object`);
    for (const field of ["baseUrl", "model"] as const) {
      if (typeof p[field] !== "string" || p[field] === "")
        bad(`provider "${name}" needs a non-empty string "${field}"`);
    }
    // Local servers (Ollama, vLLM) may take no key; the field must still be a string.
    if (typeof p.apiKey !== "string") bad(`provider "${name}" needs a string "apiKey"`);
    if (p.api !== undefined && typeof p.api !== "string") bad(`provider "${name}": "api" must be a string`);
    if (!/^https?:\/\/[^\s]+$/.test(p.baseUrl as string))
      bad(`provider "${name}": "baseUrl" must be an http(s) URL`);
    const extra = Object.fromEntries(Object.entries(p).filter(([k]) => !KNOWN.has(k)));
    out.set(name, {
      name,
      baseUrl: p.baseUrl as string,
      apiKey: p.apiKey as string,
      model: p.model as string,
      ...(typeof p.api === "string" ? { api: p.api } : {}),
      extra,
    });
  }
  if (out.size === 0) bad("declares no provider");
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export const LlmConfigResponse = t.Object(
  {
    provider: t.String(),
    model: t.String(),
    baseUrl: t.String(),
    apiKey: t.String(),
    api: t.Optional(t.String()),
  },
  { additionalProperties: true },
);

/** The JSON a user's machine receives: extras first so they can never shadow the declared fields. */
export function llmConfigJson(p: LlmProvider) {
  return {
    ...p.extra,
    provider: p.name,
    model: p.model,
    baseUrl: p.baseUrl,
    apiKey: p.apiKey,
    ...(p.api ? { api: p.api } : {}),
  };
}

export function llmConfigRoutes(ctx: RelayContext) {
  const { llm } = ctx;
  return new Elysia({ name: "users-llm-config" }).get(
    "/api/config",
    async ({ request, server }) => {
      const { user } = await authenticate(ctx, request, server);
      if (!ctx.config.LLM_CONFIG_ENABLED)
        throw new HttpError(404, "llm_config_disabled", "this relay does not hand out LLM settings");
      const provider = llm.forUser(user);
      if (!provider) throw new HttpError(404, "llm_not_configured", "no LLM provider is configured");
      if (user.llmProvider && user.llmProvider !== provider.name)
        ctx.log.warn("llm_provider_unknown", { userId: user.id, provider: user.llmProvider });
      ctx.log.info("llm_config_served", { userId: user.id, provider: provider.name });
      return llmConfigJson(provider);
    },
    {
      response: { 200: LlmConfigResponse },
      detail: {
        summary: "LLM settings for this user (includes the API key)",
        tags: ["users"],
        security: [{ bearer: [] }],
      },
    },
  );
}
