/**
 * The bot's own @-mention left out of a message's text (M2-4): "@Bot /reset" reads "/reset", so
 * commands work in groups. Other mentions stay as `@Name`; the message's `mentions` keep every one.
 * Pure: the text is rendered again (message-content.ts) with the bot's mentions marked, and the marks
 * are then removed with the spaces around them.
 */
import type { Mention } from "../relay/protocol.ts";
import { renderContent } from "./message-content.ts";

/** A private-use character as the bot's name: it cannot be confused with a real name. */
const MARK = "\uE000";
/** A marked mention with the spaces around it (several in a row count as one gap). */
const GAP = /[ \t]*(?:@\uE000[ \t]*)+/g;

export function textWithoutBot(
  msgType: string,
  rawContent: string,
  mentions: Mention[],
  botOpenId: string,
): string {
  const marked = mentions.map((m) => (m.openId === botOpenId ? { ...m, name: MARK } : m));
  // A post may @ the bot by its open_id directly instead of through `mentions[]`.
  marked.push({ key: botOpenId, openId: botOpenId, name: MARK });
  return dropMarks(renderContent(msgType, rawContent, marked).text);
}

/**
 * "@Bot /reset" → "/reset", "ask @Bot now" → "ask now": one space stays between words the mention
 * separated, none at the start or end of a line.
 */
function dropMarks(text: string): string {
  if (!text.includes(MARK)) return text;
  return text
    .replace(GAP, (gap: string, offset: number, whole: string) => {
      const before = whole[offset - 1];
      const after = whole[offset + gap.length];
      const edge = before === undefined || before === "\n" || after === undefined || after === "\n";
      return edge || gap.trim() === gap ? "" : " ";
    })
    .replaceAll(MARK, "");
}
