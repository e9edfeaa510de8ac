/**
 * A pass-through stream that counts bytes and fails once more than `maxBytes` went by: the guard for
 * a download whose length Feishu did not announce (or announced wrongly). Failing the stream cuts the
 * HTTP response, so the client sees a truncated body instead of a silently shortened file.
 *
 * The stream fails with `undefined` on purpose: Bun's server prints the stack of any Error a response
 * stream fails with, and both endings here are expected and logged by `onEnd` instead.
 */

export interface ByteLimitOptions {
  maxBytes: number;
  /** Called once: with the bytes passed and how the stream ended. */
  onEnd?: (bytes: number, outcome: "complete" | "too_large" | "aborted") => void;
}

export function limitBytes(
  source: ReadableStream<Uint8Array>,
  opts: ByteLimitOptions,
): ReadableStream<Uint8Array> {
  let bytes = 0;
  let ended = false;
  const end = (outcome: "complete" | "too_large" | "aborted") => {
    if (ended) return;
    ended = true;
    opts.onEnd?.(bytes, outcome);
  };
  const reader = source.getReader();
  // A pull stream: one chunk is read from Feishu per chunk the client takes, so a slow client slows
  // the download instead of the bytes piling up in memory.
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: Awaited<ReturnType<typeof reader.read>>;
        try {
          result = await reader.read();
        } catch {
          end("aborted");
          controller.error(undefined);
          return;
        }
        if (result.done) {
          end("complete");
          controller.close();
          return;
        }
        bytes += result.value.byteLength;
        if (bytes > opts.maxBytes) {
          end("too_large");
          reader.cancel().catch(() => {});
          controller.error(undefined);
          return;
        }
        controller.enqueue(result.value);
      },
      cancel(reason) {
        end("aborted");
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
