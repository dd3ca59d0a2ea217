import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Context } from 'koa';
import { droppedLogLines } from '../../lib/log-destination.js';
import { HttpSeries } from './http-series.js';
import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';

const PLUGIN = 'metrics';

/**
 * GET /metrics in Prometheus text. A registry per app (not prom-client's global one), so several apps
 * in one process (tests, embedders) never collide.
 */
export default definePlugin({
  name: PLUGIN,
  description: 'GET /metrics — Prometheus text: HTTP, generations, backends, websockets, uploads, process.',
  optionalDependencies: ['generations', 'transport', 'wsStats', 'webhooks', 'quotaStats'],
  options: Type.Object(
    {
      scope: Type.Unsafe<'public' | 'admin'>({ enum: ['public', 'admin'], default: 'public', description: 'Who may read /metrics (admin needs an admin key when auth is on).' }),
    },
    { additionalProperties: false },
  ),
  register(ctx) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'comfy_bridge_' });

    const http = new HttpSeries(registry);
    const uploadBytes = new Counter({ name: 'comfy_bridge_upload_bytes_total', help: 'Bytes received by accepted uploads.', registers: [registry] });
    ctx.hooks.onResponse.tap(PLUGIN, (request: Context, ms: number) => {
      const route = (request as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      http.record(route, request.req.method!, request.res.statusCode, ms / 1000);
      if (route === '/upload' && request.status === 200) uploadBytes.inc(Number(request.get('content-length')) || 0);
    });

    const generations = ctx.tryUse('generations');
    if (generations) {
      const created = new Counter({ name: 'comfy_bridge_generations_created_total', help: 'Generations recorded.', registers: [registry] });
      const finished = new Counter({
        name: 'comfy_bridge_generations_finished_total',
        help: 'Generations that ended, by final state.',
        labelNames: ['state'],
        registers: [registry],
      });
      const genDuration = new Histogram({
        name: 'comfy_bridge_generation_duration_seconds',
        help: 'From acceptance to the end, by final state.',
        labelNames: ['state'],
        buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
        registers: [registry],
      });
      new Gauge({
        name: 'comfy_bridge_generations_held',
        help: 'Generations this instance holds in its bridge queue (fair share), waiting for a backend with room.',
        registers: [registry],
        collect() {
          this.set(generations.heldCount());
        },
      });
      generations.hooks.created.tap(PLUGIN, () => created.inc());
      generations.hooks.settled.tap(PLUGIN, (gen) => {
        finished.inc({ state: gen.state });
        if (gen.finishedAt) genDuration.observe({ state: gen.state }, (Date.parse(gen.finishedAt) - Date.parse(gen.createdAt)) / 1000);
      });
    }

    const transport = ctx.tryUse('transport');
    if (transport) {
      new Gauge({
        name: 'comfy_bridge_backend_up',
        help: '1 when the ComfyUI backend is reachable.',
        labelNames: ['backend'],
        registers: [registry],
        collect() {
          for (const b of transport.backends()) this.set({ backend: b.name }, b.up ? 1 : 0);
        },
      });
      new Gauge({
        name: 'comfy_bridge_backend_queue_depth',
        help: 'Prompts running + pending on the backend, as last seen.',
        labelNames: ['backend'],
        registers: [registry],
        collect() {
          for (const b of transport.backends()) this.set({ backend: b.name }, b.queueRemaining ?? 0);
        },
      });
    }

    // Looked up when scraped: the warmup plugin may register after this one, or not at all.
    const warmup = () => ctx.tryUse('warmup');
    new Gauge({
      name: 'comfy_bridge_warmup_seconds',
      help: 'How long the last finished warm-up of a workflow took on a backend (submission to end).',
      labelNames: ['backend', 'workflow'],
      registers: [registry],
      collect() {
        for (const w of warmup()?.status() ?? []) if (w.seconds !== null) this.set({ backend: w.backend, workflow: w.workflow }, w.seconds);
      },
    });
    new Gauge({
      name: 'comfy_bridge_warmup_pending',
      help: '1 while a warm-up of a workflow is queued or running on a backend.',
      labelNames: ['backend', 'workflow'],
      registers: [registry],
      collect() {
        for (const w of warmup()?.status() ?? []) this.set({ backend: w.backend, workflow: w.workflow }, w.state === 'queued' || w.state === 'running' ? 1 : 0);
      },
    });

    const wsStats = () => ctx.tryUse('wsStats');
    new Gauge({
      name: 'comfy_bridge_ws_clients',
      help: 'Open client websockets.',
      registers: [registry],
      collect() {
        this.set(wsStats()?.clients() ?? 0);
      },
    });
    new Gauge({
      name: 'comfy_bridge_ws_dropped_slow_consumers',
      help: 'Client websockets cut off because they stopped reading (since start).',
      registers: [registry],
      collect() {
        this.set(wsStats()?.droppedSlowConsumers() ?? 0);
      },
    });

    const webhooks = ctx.tryUse('webhooks');
    if (webhooks) {
      new Counter({
        name: 'comfy_bridge_webhook_deliveries_total',
        help: 'Webhook delivery attempts by outcome (since start): delivered, retried (failed, tried again later), failed (given up).',
        labelNames: ['outcome'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [outcome, n] of Object.entries(webhooks.stats())) this.inc({ outcome }, n);
        },
      });
      new Gauge({
        name: 'comfy_bridge_webhook_deliveries_pending',
        help: 'Webhook deliveries waiting in the outbox (the store\'s: instances sharing one store all report the same number).',
        registers: [registry],
        // One indexed count per scrape; a store that cannot answer keeps the last value rather than failing the scrape.
        async collect() {
          try {
            this.set(await webhooks.pendingDeliveries());
          } catch (error) {
            ctx.log.warn({ err: error }, 'could not count pending webhook deliveries for /metrics');
          }
        },
      });
    }

    // Looked up when scraped, like warmup: generate may register after this plugin.
    const quotaStats = () => ctx.tryUse('quotaStats');
    new Counter({
      name: 'comfy_bridge_quota_refusals_total',
      help: 'Generate requests refused 429 quota_exceeded (since start), by the limit hit: maxActive, perMinute, perDay.',
      labelNames: ['limit'],
      registers: [registry],
      collect() {
        const refusals = quotaStats()?.refusals();
        if (!refusals) return;
        this.reset();
        for (const [limit, n] of Object.entries(refusals)) this.inc({ limit }, n);
      },
    });

    // Log lines dropped because the log could not be written (full disk, dead stdout reader): the server keeps serving.
    new Gauge({
      name: 'comfy_bridge_log_lines_dropped',
      help: 'Log lines dropped because they could not be written (since start).',
      registers: [registry],
      collect() {
        this.set(droppedLogLines());
      },
    });

    ctx.route({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['operations'],
      scope: ctx.options.scope,
      responses: {
        '200': {
          description: 'Prometheus text exposition format.',
          contentType: 'text/plain',
          schema: { type: 'string' },
          example:
            '# HELP comfy_bridge_http_requests_total HTTP requests by route, method and status.\n' +
            '# TYPE comfy_bridge_http_requests_total counter\n' +
            'comfy_bridge_http_requests_total{route="/health",method="GET",status="200"} 12\n',
        },
      },
      async handler(http) {
        http.type = registry.contentType;
        http.body = await registry.metrics();
      },
    });
  },
});
