/**
 * A tiny OpenAI-compatible model for the real-OpenClaw end-to-end test
 * (openclaw-plugin-reference.md §4.3 step 4): `POST /v1/chat/completions` answers `echo <marker>`,
 * where the marker is the last `newMarker()` token found anywhere in the request body. (OpenClaw wraps
 * the user's text in context blocks, so the last `user` message is not where it is.) Streams SSE
 * when asked to, plain JSON otherwise.
 *
 * Two requests are understood besides echo, both keyed by the newest marker:
 * - `whatimage <marker>`: reports the last image part it received, `got <mime> <n> bytes`;
 * - `sendfile <marker> <absolute path>`: answers with an OpenClaw `MEDIA:<path>` line, so the agent's
 *   reply carries that file.
 * - `whatquoted <marker>`: reports the `quotedmark…` token (newQuotedMarker) found in the request,
 *   i.e. what the agent was shown of the message the user replied to: `quoted <token>` or
 *   `quoted nothing`;
 * - `streamanswer <marker>`: answers `streamedAnswer(marker)` in STREAM_PIECES SSE chunks spaced
 *   STREAM_GAP_MS apart, as a real model writes, so OpenClaw emits several partial replies.
 */

// The prefix must not occur in anything else OpenClaw puts in the prompt: temp dirs named
// `openclaw-e2e-XXXXXX` once matched a looser `e2e-…` pattern and the model echoed a path.
// No leading \b: in the raw JSON body a marker after a newline follows the `n` of `\n`.
const MARKER = /echomark[0-9a-f]{12}\b/g;

export function newMarker(): string {
  return `echomark${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

const QUOTED = /quotedmark[0-9a-f]{12}\b/g;

/** A token for the text of a quoted message: the model reports it back on `whatquoted`. */
export function newQuotedMarker(): string {
  return `quotedmark${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** How many chunks a `streamanswer` reply comes in, and the time between them. */
export const STREAM_PIECES = 6;
export const STREAM_GAP_MS = 400;

const STREAMED_PREFIX = "Streaming ";

/** The full answer to `streamanswer <marker>`. */
export function streamedAnswer(marker: string): string {
  return `${STREAMED_PREFIX}${marker}: first, second, third, fourth, fifth and the last words.`;
}

/** Cuts a text into `n` pieces of about equal length (the last takes the rest). */
export function cutInto(text: string, n: number): string[] {
  const size = Math.ceil(text.length / n);
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}

export interface MockModel {
  url: string;
  requests: number;
  stop(): void;
}

/** The last image part (`image_url` data URL) anywhere in an OpenAI chat request. */
export function lastImagePart(body: string): { mime: string; bytes: number } | undefined {
  let parsed: { messages?: Array<{ content?: unknown }> };
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  let found: { mime: string; bytes: number } | undefined;
  for (const m of parsed.messages ?? []) {
    if (!Array.isArray(m.content)) continue;
    for (const part of m.content as Array<{ type?: string; image_url?: { url?: string } | string }>) {
      const url = typeof part.image_url === "string" ? part.image_url : part.image_url?.url;
      const data = url && /^data:([^;,]+);base64,(.*)$/s.exec(url);
      if (part.type === "image_url" && data)
        found = { mime: data[1]!, bytes: Buffer.from(data[2]!, "base64").length };
    }
  }
  return found;
}

export function answerFor(body: string): string {
  const found = body.match(MARKER);
  const marker = found?.[found.length - 1];
  if (!marker) return "ok";
  if (body.includes(`whatimage ${marker}`)) {
    const image = lastImagePart(body);
    return image ? `got ${image.mime} ${image.bytes} bytes` : "got no image";
  }
  if (body.includes(`whatquoted ${marker}`)) {
    const quoted = body.match(QUOTED);
    return `quoted ${quoted?.[quoted.length - 1] ?? "nothing"}`;
  }
  if (body.includes(`streamanswer ${marker}`)) return streamedAnswer(marker);
  const file = new RegExp(`sendfile ${marker} (/[^\\s"\\\\]+)`).exec(body);
  if (file) return `here is your file\nMEDIA:${file[1]}`;
  return `echo ${marker}`;
}

/** `streamGapMs`: time between the chunks of a `streamanswer` (STREAM_GAP_MS by default). */
export function startMockModel(opts: { streamGapMs?: number } = {}): MockModel {
  const gapMs = opts.streamGapMs ?? STREAM_GAP_MS;
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
      // Debugging aid: MOCK_MODEL_DUMP_DIR=<dir> keeps every request body.
      if (process.env.MOCK_MODEL_DUMP_DIR)
        await Bun.write(`${process.env.MOCK_MODEL_DUMP_DIR}/request-${state.requests}.json`, raw);
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
      const pieces = content.startsWith(STREAMED_PREFIX) ? cutInto(content, STREAM_PIECES) : [content];
      const events = [
        ...pieces.map((piece, i) =>
          chunk({
            index: 0,
            delta: i === 0 ? { role: "assistant", content: piece } : { content: piece },
            finish_reason: null,
          }),
        ),
        `${chunk({ index: 0, delta: {}, finish_reason: "stop" }, { usage })}data: [DONE]\n\n`,
      ];
      // One event per pull, spaced out like a model generating: the real gateway sees partials.
      let next = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (next > 0 && pieces.length > 1 && gapMs > 0) await Bun.sleep(gapMs);
          controller.enqueue(new TextEncoder().encode(events[next]!));
          next += 1;
          if (next >= events.length) controller.close();
        },
      });
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
