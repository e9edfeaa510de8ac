/**
 * A small Prometheus registry (text exposition format 0.0.4). Written here rather than taking
 * prom-client because we need only counters, gauges and histograms, and prom-client's default
 * collectors lean on Node internals (perf_hooks, cluster) that we don't want in a compiled Bun binary.
 */

type Labels = Record<string, string | number>;

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
/** Rendered label sets by their raw form: the hot path increments the same few series over and over. */
const renderedKeys = new Map<string, string>();
const labelKey = (labels: Labels): string => {
  let raw = "";
  for (const k in labels) raw += `${k}\u0000${labels[k]}\u0001`;
  if (raw === "") return "";
  let key = renderedKeys.get(raw);
  if (key === undefined) {
    key = Object.keys(labels)
      .sort()
      .map((k) => `${k}="${escapeLabel(String(labels[k]))}"`)
      .join(",");
    if (renderedKeys.size >= 10_000) renderedKeys.clear();
    renderedKeys.set(raw, key);
  }
  return key;
};
const fmt = (name: string, key: string, value: number) => `${name}${key ? `{${key}}` : ""} ${value}`;

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Read at scrape time, for totals another party keeps (the kernel's CPU time). */
    private readonly collect?: () => number,
  ) {}
  inc(labels: Labels = {}, by = 1) {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}) {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  /**
   * For the hot path: an incrementer by a cheap key of the caller's (a status, an event type), each
   * key's label set rendered once, on its first use.
   */
  seriesBy<K>(labelsOf: (key: K) => Labels): (key: K, by?: number) => void {
    const rendered = new Map<K, string>();
    return (key, by = 1) => {
      let k = rendered.get(key);
      if (k === undefined) {
        k = labelKey(labelsOf(key));
        rendered.set(key, k);
      }
      this.#values.set(k, (this.#values.get(k) ?? 0) + by);
    };
  }
  /** Summed over every label set (the console's per-minute rates). */
  total() {
    let sum = 0;
    for (const v of this.#values.values()) sum += v;
    return sum;
  }
  render() {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.collect) return [...lines, fmt(this.name, "", this.collect())];
    if (this.#values.size === 0) lines.push(fmt(this.name, "", 0));
    for (const [k, v] of this.#values) lines.push(fmt(this.name, k, v));
    return lines;
  }
}

export class Gauge implements Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Read at scrape time, for values another module owns (connections, queue depth). */
    private readonly collect?: () => number | Array<[Labels, number]>,
  ) {}
  set(value: number, labels: Labels = {}) {
    this.#values.set(labelKey(labels), value);
  }
  inc(labels: Labels = {}, by = 1) {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1) {
    this.inc(labels, -by);
  }
  get(labels: Labels = {}) {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render() {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    if (this.collect) {
      const v = this.collect();
      if (typeof v === "number") lines.push(fmt(this.name, "", v));
      else for (const [labels, n] of v) lines.push(fmt(this.name, labelKey(labels), n));
      return lines;
    }
    if (this.#values.size === 0) lines.push(fmt(this.name, "", 0));
    for (const [k, v] of this.#values) lines.push(fmt(this.name, k, v));
    return lines;
  }
}

export class Histogram implements Metric {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(value: number, labels: Labels = {}) {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = {}) {
    return this.#series.get(labelKey(labels))?.count ?? 0;
  }
  render() {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.#series) {
      const sep = k ? `${k},` : "";
      for (let i = 0; i < this.buckets.length; i++) {
        lines.push(`${this.name}_bucket{${sep}le="${this.buckets[i]}"} ${s.counts[i]}`);
      }
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(fmt(`${this.name}_sum`, k, s.sum));
      lines.push(fmt(`${this.name}_count`, k, s.count));
    }
    return lines;
  }
}

export class Registry {
  readonly #metrics = new Map<string, Metric>();
  readonly #refreshers: Array<() => Promise<void>> = [];

  /**
   * Work a scrape awaits before rendering: figures that need a database round trip (PostgreSQL)
   * are fetched here, so a gauge's synchronous read shows this scrape's value, not the last one's.
   */
  beforeScrape(refresh: () => Promise<void>): void {
    this.#refreshers.push(refresh);
  }

  /** Runs every `beforeScrape` refresher; a failing one leaves its gauges as they were. */
  async refresh(): Promise<void> {
    await Promise.all(this.#refreshers.map((r) => r().catch(() => undefined)));
  }

  counter(name: string, help: string, collect?: () => number): Counter {
    return this.#add(name, () => new Counter(name, help, collect)) as Counter;
  }
  gauge(name: string, help: string, collect?: () => number | Array<[Labels, number]>): Gauge {
    return this.#add(name, () => new Gauge(name, help, collect)) as Gauge;
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.#add(name, () => new Histogram(name, help, buckets)) as Histogram;
  }

  /** Same name → same metric, so modules can declare what they use without a central list. */
  #add(name: string, make: () => Metric): Metric {
    let m = this.#metrics.get(name);
    if (!m) {
      m = make();
      this.#metrics.set(name, m);
    }
    return m;
  }

  render(): string {
    return `${[...this.#metrics.values()].flatMap((m) => m.render()).join("\n")}\n`;
  }
}

/** Seconds buckets for latencies from sub-millisecond to several seconds. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Process metrics, collected at scrape time. */
export function registerProcessMetrics(r: Registry, startedAt: number, now: () => number) {
  r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => process.memoryUsage().rss);
  r.gauge("process_heap_bytes", "JavaScript heap in use in bytes.", () => process.memoryUsage().heapUsed);
  r.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch.", () =>
    Math.floor(startedAt / 1000),
  );
  r.gauge("process_uptime_seconds", "Seconds since the relay started.", () => (now() - startedAt) / 1000);
  // A counter: it only grows, and promtool refuses `_total` on anything else.
  r.counter("process_cpu_seconds_total", "User and system CPU time spent in seconds.", () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
}

/** The usual `*_build_info` gauge: always 1, the version in a label, for joins and upgrade dashboards. */
export function registerBuildInfo(r: Registry, version: string) {
  r.gauge("openclaw_relay_build_info", "The running relay's version (always 1).", () => [[{ version }, 1]]);
}

/** The node's id (always 1, the id in a label) and how many nodes the cluster has alive. */
export function registerClusterMetrics(r: Registry, nodeId: string, cluster: { aliveCount: number }) {
  r.gauge("openclaw_relay_node_info", "This relay process's node id (always 1).", () => [
    [{ node: nodeId }, 1],
  ]);
  r.gauge(
    "openclaw_relay_cluster_nodes_alive",
    "Relay nodes seen within the last 10 s (1 without a cluster).",
    () => cluster.aliveCount,
  );
}
