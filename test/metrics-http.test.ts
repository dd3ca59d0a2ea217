import { expect } from 'chai';
import { Counter, Histogram, Registry } from 'prom-client';
import { HttpSeries } from '../plugins/metrics/http-series.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

/** The same observations through prom-client's own Counter and Histogram, as the metrics plugin did before. */
function promClientText(observations: [string, string, number, number][]): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({ name: 'comfy_bridge_http_requests_total', help: 'HTTP requests by route, method and status.', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: 'comfy_bridge_http_request_duration_seconds',
    help: 'HTTP request duration by route and method.',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  for (const [route, method, status, seconds] of observations) {
    requests.labels(route, method, String(status)).inc();
    duration.labels(route, method).observe(seconds);
  }
  return registry.metrics();
}

describe('metrics: the HTTP request series', () => {
  const observations: [string, string, number, number][] = [
    ['/health', 'GET', 200, 0.0004],
    ['/workflow-info', 'GET', 400, 0.001],
    ['/health', 'GET', 200, 0.003],
    ['unmatched', 'GET', 404, 0.2],
    ['/workflow-info', 'GET', 200, 31],
    ['/health', 'HEAD', 200, 0.05],
    ['/workflow-info', 'GET', 400, 0.0101],
  ];

  it('writes the text prom-client writes for the same observations (series, labels, cumulative buckets, sum, count)', async () => {
    const registry = new Registry();
    const series = new HttpSeries(registry);
    for (const [route, method, status, seconds] of observations) series.record(route, method, status, seconds);
    const ours = await registry.metrics();
    expect(ours).to.equal(await promClientText(observations));
    // Not vacuous: the text has both metrics with their series.
    expect(ours).to.contain('comfy_bridge_http_requests_total{route="/workflow-info",method="GET",status="400"} 2');
    expect(ours).to.contain('comfy_bridge_http_request_duration_seconds_bucket{le="0.01",route="/workflow-info",method="GET"} 1');
    expect(ours).to.contain('comfy_bridge_http_request_duration_seconds_bucket{le="+Inf",route="/workflow-info",method="GET"} 3');
  });

  it('is the same in the registry as JSON, and gone after a reset', async () => {
    const registry = new Registry();
    const series = new HttpSeries(registry);
    series.record('/health', 'GET', 200, 0.002);
    const json = await registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'comfy_bridge_http_request_duration_seconds')!;
    expect(histogram.type).to.equal('histogram');
    expect(histogram.values).to.deep.include({ labels: { le: 0.005, route: '/health', method: 'GET' }, value: 1, metricName: 'comfy_bridge_http_request_duration_seconds_bucket' });
    registry.resetMetrics();
    expect(await registry.metrics()).not.to.contain('route="/health"');
  });

  describe('on a running bridge', () => {
    let bridge: RunningBridge;
    before(async () => {
      bridge = await startBridge({ plugins: { util: {}, metrics: {} } });
    });
    after(async () => {
      await bridge.close();
    });

    it('counts every answer by its route, method and status, and times it in the histogram of its route and method', async () => {
      for (const [path, method] of [['/health', 'GET'], ['/health', 'GET'], ['/health', 'HEAD'], ['/nope', 'GET'], ['/health', 'POST']] as const) {
        expect((await fetch(`${bridge.url}${path}`, { method })).status).to.be.oneOf([200, 404, 405]);
      }
      const text = await (await fetch(`${bridge.url}/metrics`)).text();
      expect(text).to.contain('comfy_bridge_http_requests_total{route="/health",method="GET",status="200"} 2');
      expect(text).to.contain('comfy_bridge_http_requests_total{route="/health",method="HEAD",status="200"} 1');
      expect(text).to.contain('comfy_bridge_http_requests_total{route="unmatched",method="GET",status="404"} 1');
      expect(text).to.contain('comfy_bridge_http_requests_total{route="unmatched",method="POST",status="405"} 1');
      expect(text).to.contain('comfy_bridge_http_request_duration_seconds_count{route="/health",method="GET"} 2');
      expect(text).to.contain('comfy_bridge_http_request_duration_seconds_bucket{le="+Inf",route="/health",method="GET"} 2');
      const buckets = [...text.matchAll(/comfy_bridge_http_request_duration_seconds_bucket\{le="([^"]+)",route="\/health",method="GET"\} (\d+)/g)].map((m) => Number(m[2]));
      expect(buckets).to.have.length(10);
      expect(buckets).to.deep.equal([...buckets].sort((a, b) => a - b));
    });
  });
});
