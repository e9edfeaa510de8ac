/**
 * A nesting cap for JSON text, checked before JSON.parse: a body nested tens of thousands deep parses
 * fine but later blows the stack of every recursive walk over it (JSON.stringify, validators). The
 * scan is a single loop with a counter, so it cannot overflow itself. Pure.
 */

/** Far above anything Feishu or a plugin sends (a post or card is under 20 levels). */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** The deepest nesting of objects and arrays in `text`, ignoring brackets inside strings. */
export function jsonDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return max;
}

/** A message for a body nested deeper than the cap, or undefined when it is within it. */
export function jsonDepthError(text: string, max = MAX_JSON_DEPTH): string | undefined {
  return jsonDepth(text, max) > max ? `JSON nests deeper than ${max} levels` : undefined;
}
