import type { Metric, Registry } from 'prom-client';

const REQUESTS = 'comfy_bridge_http_requests_total';
const DURATION = 'comfy_bridge_http_request_duration_seconds';
const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/** One (route, method)'s durations: a count per bucket (not cumulative), their sum and count. */
interface Durations {
  labels: { route: string; method: string };
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The two HTTP series (requests by route, method and status; durations by route and method) counted in plain
 * numbers on every request and read by the registry when scraped. prom-client's own `inc`/`observe` validate and
 * hash the label set on every call, even on a bound child: about a microsecond and a half per request, the largest
 * share of the bridge's own work on a read route (docs/performance.md). The text at /metrics is the one prom-client
 * writes for a Counter and a Histogram with these labels and buckets (test/metrics-http.test.ts).
 */
export class HttpSeries {
  /** By "status method route": the request count and that (route, method)'s durations. */
  readonly #byStatus = new Map<string, { labels: { route: string; method: string; status: string }; count: number; durations: Durations }>();
  readonly #durations = new Map<string, Durations>();
  /**
   * The same entries by route, method, then status: the route and method strings are the same objects on every
   * request (the route's path, the parser's method names), so no key string is built and hashed per request.
   */
  readonly #bound = new Map<string, Map<string, Map<number, { count: number; durations: Durations }>>>();

  constructor(registry: Registry) {
    // prom-client's Counter and Histogram take one observation at a time: these two are the registry's metric
    // interface itself (what those classes hand the registry), read from the numbers above when scraped.
    const metric = (name: string, help: string, type: 'counter' | 'histogram', values: () => object[]) => {
      const get = () => ({ name, help, type, aggregator: 'sum', values: values() });
      registry.registerMetric({ name, help, type, aggregator: 'sum', get, reset: () => this.#reset() } as unknown as Metric);
    };
    metric(REQUESTS, 'HTTP requests by route, method and status.', 'counter', () => [...this.#byStatus.values()].map(({ labels, count }) => ({ labels, value: count })));
    metric(DURATION, 'HTTP request duration by route and method.', 'histogram', () => [...this.#durations.values()].flatMap(histogramValues));
  }

  #reset(): void {
    this.#byStatus.clear();
    this.#durations.clear();
    this.#bound.clear();
  }

  record(route: string, method: string, status: number, seconds: number): void {
    const entry = this.#bound.get(route)?.get(method)?.get(status) ?? this.#bind(route, method, status);
    entry.count++;
    const { durations } = entry;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    if (i < BUCKETS.length) durations.buckets[i]!++;
    durations.sum += seconds;
    durations.count++;
  }

  /** The series of a (route, method, status) first seen: made, and found by the next request without a key string. */
  #bind(route: string, method: string, status: number): { count: number; durations: Durations } {
    const key = `${status} ${method} ${route}`;
    let entry = this.#byStatus.get(key);
    if (!entry) this.#byStatus.set(key, (entry = { labels: { route, method, status: String(status) }, count: 0, durations: this.#durationsOf(route, method) }));
    let methods = this.#bound.get(route);
    if (!methods) this.#bound.set(route, (methods = new Map()));
    let statuses = methods.get(method);
    if (!statuses) methods.set(method, (statuses = new Map()));
    statuses.set(status, entry);
    return entry;
  }

  #durationsOf(route: string, method: string): Durations {
    const key = `${method} ${route}`;
    let found = this.#durations.get(key);
    if (!found) this.#durations.set(key, (found = { labels: { route, method }, buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    return found;
  }
}

/** What prom-client's Histogram returns for one label set: cumulative buckets, +Inf, sum, count. */
function histogramValues({ labels, buckets, sum, count }: Durations) {
  let cumulative = 0;
  return [
    ...BUCKETS.map((le, i) => ({ labels: { le, ...labels }, value: (cumulative += buckets[i]!), metricName: `${DURATION}_bucket` })),
    { labels: { le: '+Inf', ...labels }, value: count, metricName: `${DURATION}_bucket` },
    { labels: { ...labels }, value: sum, metricName: `${DURATION}_sum` },
    { labels: { ...labels }, value: count, metricName: `${DURATION}_count` },
  ];
}
