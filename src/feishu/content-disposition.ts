/**
 * File names in `Content-Disposition` headers: reading Feishu's (feishu-reference.md §11.1) and
 * writing ours. Pure.
 *
 * Feishu's exact form is unconfirmed; the official plugin accepts `filename*=UTF-8''<percent-encoded>`
 * and `filename="…"`, and repairs names whose raw UTF-8 bytes were read as latin1 (a header value is
 * a byte string: a CJK name sent unescaped arrives as mojibake such as `Ã¥Â­Â£`).
 */

/** Longest file name we pass on; longer ones are cut (file systems stop at 255 bytes anyway). */
export const MAX_FILE_NAME_LENGTH = 255;

/** The file name a `Content-Disposition` header carries, or undefined. `filename*` wins. */
export function fileNameFromDisposition(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*([^']*)'[^']*'([^;]*)/i.exec(header);
  if (extended) {
    const decoded = percentDecode(extended[2]!.trim().replace(/^"(.*)"$/, "$1"), extended[1]!.trim());
    const name = decoded === undefined ? undefined : cleanFileName(decoded);
    if (name) return name;
  }
  const plain = /(?:^|;)\s*filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)/i.exec(header);
  if (!plain) return undefined;
  const raw = plain[2] !== undefined ? plain[2].replace(/\\(.)/g, "$1") : plain[1]!.trim();
  return cleanFileName(repairLatin1(raw));
}

/** `attachment; filename*=UTF-8''<percent-encoded name>` (RFC 6266 / RFC 8187). */
export function attachmentDisposition(name: string): string {
  return `attachment; filename*=UTF-8''${encodeRfc8187(name)}`;
}

/**
 * A string whose characters are all bytes (≤ U+00FF) and that decodes as valid UTF-8 was UTF-8 read
 * as latin1: decode it. Anything else (plain ASCII, real latin1 such as `café`) is kept.
 */
export function repairLatin1(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\x20-\xff]/.test(value)) return value;
  const bytes = Buffer.from(value, "latin1");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return value;
  }
}

/** A name safe to hand on: no directories, no control characters, bounded. Empty → undefined. */
export function cleanFileName(name: string): string | undefined {
  const base = name.split(/[/\\]/).pop() ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  if (!cleaned || cleaned === "." || cleaned === "..") return undefined;
  return [...cleaned].slice(0, MAX_FILE_NAME_LENGTH).join("");
}

function percentDecode(value: string, charset: string): string | undefined {
  const cs = charset.toLowerCase();
  try {
    if (cs === "utf-8" || cs === "utf8" || cs === "") return decodeURIComponent(value);
    if (cs === "iso-8859-1" || cs === "latin1") {
      return value.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** RFC 8187 attr-char are kept; everything else is percent-encoded UTF-8. */
function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
