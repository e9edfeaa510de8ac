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

/** Brackets and quotes: everything else outside strings is skipped by the regex engine. */
const STRUCTURE = /["{}[\]]/g;

/**
 * The deepest nesting of objects and arrays in `text`, ignoring brackets inside strings. Strings are
 * skipped with indexOf and the rest with a regex, so a body that is mostly one long string (an
 * encrypted webhook) costs a few native calls, not a loop over every character.
 */
export function jsonDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  const re = new RegExp(STRUCTURE);
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const c = text.charCodeAt(m.index);
    if (c === QUOTE) {
      const end = closingQuote(text, m.index + 1);
      if (end < 0) return max;
      re.lastIndex = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else {
      depth--;
    }
  }
  return max;
}

/** The index of the quote that ends the string starting at `from`, or -1 (an unterminated string). */
function closingQuote(text: string, from: number): number {
  for (let i = text.indexOf('"', from); i >= 0; i = text.indexOf('"', i + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  return -1;
}

/**
 * Whether `text` nests deeper than `max`. Nesting needs an opening bracket per level, so text with at
 * most `max` of them (counted with indexOf, inside strings too: an over-count only means the exact
 * scan runs) is within the cap without a scan: the usual case, on the webhook's hot path twice.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let openers = 0;
  for (const bracket of ["{", "["]) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1)) {
      if (++openers > max) return jsonDepth(text, max) > max;
    }
  }
  return false;
}

/** A message for a body nested deeper than the cap, or undefined when it is within it. */
export function jsonDepthError(text: string, max = MAX_JSON_DEPTH): string | undefined {
  return nestsDeeperThan(text, max) ? `JSON nests deeper than ${max} levels` : undefined;
}
