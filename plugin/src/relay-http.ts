/**
 * Where the relay's HTTP media endpoints live, derived from the configured WebSocket URL
 * (protocol.md "Media"): same origin, `ws`→`http`, `wss`→`https`, the trailing `/openclaw` removed.
 * Pure. The token is only ever sent to this origin: attachment `url`s from frames are not followed.
 */

const PLUGIN_PATH = "/openclaw";

/** `wss://relay.example.com/base/openclaw?x` → `https://relay.example.com/base`. */
export function relayHttpBase(relayUrl: string): string {
  const url = new URL(relayUrl);
  const scheme =
    url.protocol === "ws:" || url.protocol === "http:"
      ? "http:"
      : url.protocol === "wss:" || url.protocol === "https:"
        ? "https:"
        : undefined;
  if (!scheme) throw new Error(`not a relay URL: ${url.protocol}`);
  let path = url.pathname.replace(/\/+$/, "");
  if (path.endsWith(PLUGIN_PATH)) path = path.slice(0, -PLUGIN_PATH.length);
  // Query, fragment and credentials are dropped: a pasted `?token=` must not reach a URL we log.
  return `${scheme}//${url.host}${path}`;
}

/** `GET` here downloads one inbound attachment; the id is opaque, so it is escaped whole. */
export function mediaDownloadUrl(base: string, attachmentId: string): string {
  return `${base}/api/media/${encodeURIComponent(attachmentId)}`;
}

/** `PUT` here stores the bytes of one outbound media. */
export function mediaUploadUrl(base: string): string {
  return `${base}/api/media`;
}

/** The `X-File-Name` header value: percent-encoded UTF-8, so any name survives HTTP headers. */
export function fileNameHeader(name: string): string {
  return encodeURIComponent(name);
}

/**
 * The file name of a `Content-Disposition` header: `filename*=UTF-8''…` (what the relay sends)
 * first, a plain `filename="…"` otherwise. Path parts are stripped.
 */
export function dispositionFileName(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  let name: string | undefined;
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (extended) {
    try {
      name = decodeURIComponent(extended[1]!.trim());
    } catch {
      name = undefined;
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/.exec(header);
    name = (plain?.[1] ?? plain?.[2])?.trim();
  }
  const base = name?.split(/[\\/]/).pop()?.trim();
  return base || undefined;
}
