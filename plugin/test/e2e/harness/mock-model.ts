/**
 * A tiny OpenAI-compatible model for the real-OpenClaw end-to-end test
 * (openclaw-plugin-reference.md §4.3 step 4): `POST /v1/chat/completions` answers `echo <marker>`,
 * where the marker is the last `newMarker()` token found anywhere in the request body. (OpenClaw wraps
 * the user's text in context blocks, so the last `user` message is not where it is.) Streams SSE
 * when asked to, plain JSON otherwise.
 */

// The prefix must not occur in anything else OpenClaw puts in the prompt: temp dirs named
// `openclaw-e2e-XXXXXX` once matched a looser `e2e-…` pattern and the model echoed a path.
const MARKER = /\bechomark[0-9a-f]{12}\b/g;

export function newMarker(): string {
  return `echomark${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

export interface MockModel {
  url: string;
  requests: number;
  stop(): void;
}

export function answerFor(body: string): string {
  const found = body.match(MARKER);
  return found ? `echo ${found[found.length - 1]}` : "ok";
}

export function startMockModel(): MockModel {
  const state = { requests: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname.endsWith("/models")) {
        return Response.json({ object: "list", data: [{ id: "echo", object: "model", owned_by: "mock" }] });
      }
      if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) {
        return new Response("not found", { status: 404 });
      }
      state.requests += 1;
      const raw = await req.text();
      let stream = false;
      try {
        stream = Boolean(JSON.parse(raw).stream);
      } catch {
        // Not JSON: answer anyway.
      }
      const content = answerFor(raw);
      const id = `chatcmpl-${state.requests}`;
      const created = Math.floor(Date.now() / 1000);
      const usage = { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 };
      if (!stream) {
        return Response.json({
          id,
          object: "chat.completion",
          created,
          model: "echo",
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
          usage,
        });
      }
      const chunk = (choice: object, extra: object = {}) =>
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: "echo", choices: [choice], ...extra })}\n\n`;
      const body =
        chunk({ index: 0, delta: { role: "assistant", content }, finish_reason: null }) +
        chunk({ index: 0, delta: {}, finish_reason: "stop" }, { usage }) +
        "data: [DONE]\n\n";
      return new Response(body, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
      });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    get requests() {
      return state.requests;
    },
    stop: () => server.stop(true),
  };
}
