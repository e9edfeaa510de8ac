/**
 * A strict reader of the Prometheus text format (0.0.4) with promtool's naming rules, for tests: it
 * returns the problems it finds rather than throwing, so a test shows all of them at once.
 */
export interface Family {
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
/** Units promtool wants in base form. */
const NON_BASE_UNITS = /_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes)(_|$)/;

export function parseExposition(text: string): { families: Map<string, Family>; problems: string[] } {
  const families = new Map<string, Family>();
  const problems: string[] = [];
  const seen = new Set<string>();
  if (!text.endsWith("\n")) problems.push("exposition must end with a newline");
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) problems.push(`bad metric name ${name}`);
      const f = families.get(name) ?? { type: "", help: "", samples: [] };
      if (kind === "TYPE") {
        if (f.type) problems.push(`second TYPE for ${name}`);
        if (!TYPES.has(rest)) problems.push(`unknown type ${rest} for ${name}`);
        if (f.samples.length) problems.push(`TYPE after samples for ${name}`);
        f.type = rest;
      } else {
        if (f.help) problems.push(`second HELP for ${name}`);
        f.help = rest;
      }
      families.set(name, f);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) {
      problems.push(`unparsable line: ${line}`);
      continue;
    }
    const [, name, labelText = "", raw] = m as unknown as [string, string, string | undefined, string];
    const value = Number(raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : raw);
    if (Number.isNaN(value) && raw !== "NaN") problems.push(`bad value in: ${line}`);
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const start = LABEL.lastIndex;
      const l = LABEL.exec(labelText);
      if (!l) {
        problems.push(`bad labels at ${start} in: ${line}`);
        break;
      }
      if (l[1]! in labels) problems.push(`duplicate label ${l[1]} in: ${line}`);
      labels[l[1]!] = l[2]!;
    }
    const family = familyOf(name, families);
    if (!family) {
      problems.push(`sample without TYPE/HELP: ${name}`);
      continue;
    }
    const key = `${name}{${Object.entries(labels).sort().join(";")}}`;
    if (seen.has(key)) problems.push(`duplicate series ${key}`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  }
  for (const [name, f] of families) problems.push(...namingProblems(name, f));
  return { families, problems };
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  const base = sample.replace(/_(bucket|sum|count)$/, "");
  const f = families.get(base);
  return f && (f.type === "histogram" || f.type === "summary") ? f : undefined;
}

/** promtool's `check metrics` lint rules, as far as a single scrape shows them. */
function namingProblems(name: string, f: Family): string[] {
  const out: string[] = [];
  if (!f.type) out.push(`${name} has no TYPE`);
  if (!f.help) out.push(`${name} has no HELP`);
  if (f.type === "counter" && !name.endsWith("_total")) out.push(`counter ${name} should end in _total`);
  if (f.type !== "counter" && name.endsWith("_total")) out.push(`non-counter ${name} must not end in _total`);
  if (name !== name.toLowerCase()) out.push(`${name} is not snake_case`);
  if (NON_BASE_UNITS.test(name)) out.push(`${name} uses a non-base unit`);
  if (f.type === "histogram") {
    for (const s of f.samples.filter((s) => s.name.endsWith("_bucket")))
      if (s.labels.le === undefined) out.push(`${name}_bucket without le`);
    const infs = f.samples.filter((s) => s.name.endsWith("_bucket") && s.labels.le === "+Inf");
    const counts = f.samples.filter((s) => s.name === `${name}_count`);
    if (infs.length !== counts.length) out.push(`${name}: each series needs le="+Inf" and _count`);
  }
  return out;
}
