import { basename } from 'node:path';
import type { PluginContext } from '../../core/plugin.js';
import type { Transport } from '../../contracts/transport.js';
import type { Workflow } from '../../plugins/workflows/api.js';

/** Per backend, what it lacks to run the loaded workflows (node classes, model files, tags), each named once. */
function lacksByBackend(transport: Transport | undefined, workflows: readonly Workflow[]): Map<string, string[]> {
  const lacking = new Map<string, Set<string>>();
  if (!transport?.fit) return new Map();
  for (const workflow of workflows) {
    for (const fit of transport.fit({ graph: workflow.graph, workflow: workflow.alias })) {
      if (fit.missing.length === 0) continue;
      const set = lacking.get(fit.backend) ?? new Set<string>();
      for (const item of fit.missing) set.add(`${item} (for ${workflow.alias})`);
      lacking.set(fit.backend, set);
    }
  }
  return new Map([...lacking].map(([name, set]) => [name, [...set]]));
}

/**
 * GET /ready: 200 when storage is open and at least one backend answers, else 503 with the reason
 * per part, so a load balancer or orchestrator can hold traffic back without guessing.
 */
export function mountReady(ctx: PluginContext): void {
  ctx.route({
    method: 'get',
    path: '/ready',
    summary: 'Readiness',
    description:
      'Storage open and at least one ComfyUI backend up → 200; otherwise 503 with the reasons. With `warmup.readyWaits` on, also 503 while a workflow marked for warm-up is still warming up on every backend that can run it.',
    tags: ['operations'],
    scope: 'public',
    responses: {
      '200': { description: 'Ready.', schema: READY_SCHEMA, example: { ready: true, storage: true, backends: [{ name: 'gpu-1', up: true, queue_remaining: 0 }], reasons: [] } },
      '503': {
        description: 'Not ready; `reasons` says why.',
        schema: READY_SCHEMA,
        example: { ready: false, storage: true, backends: [{ name: 'gpu-1', up: false, queue_remaining: 0 }], reasons: ['backend gpu-1 is down'] },
      },
    },
    handler(http) {
      const storage = ctx.tryUse('storage');
      const transport = ctx.tryUse('transport');
      // Public route: backend names and states only. URLs and error texts name internal addresses
      // (SPEC §1); they are in the logs and in /metrics for operators.
      const lacking = lacksByBackend(transport, ctx.tryUse('workflows')?.list() ?? []);
      const backends = (transport?.backends() ?? []).map((b) => {
        const lacks = lacking.get(b.name);
        return { name: b.name, up: b.up, queue_remaining: b.queueRemaining, ...(lacks?.length ? { lacks } : {}) };
      });
      const reasons: string[] = [];
      if (!storage) reasons.push('no storage plugin is loaded');
      else if (!storage.isOpen()) reasons.push('storage is not open');
      if (!transport) reasons.push('no transport plugin is loaded');
      else if (!backends.some((b) => b.up)) {
        reasons.push(...(backends.length ? backends.map((b) => `backend ${b.name} is down`) : ['no backend is configured']));
      }
      // Only with the warmup plugin's `readyWaits` on: a marked workflow not yet warm on any backend that can run it.
      reasons.push(...(ctx.tryUse('warmup')?.readinessReasons() ?? []));
      // Workflow files that failed to load do not make the bridge unready (the others serve), but an operator
      // should not have to read the log to learn about them: file name (relative to the folder) and reason.
      const workflowErrors = (ctx.tryUse('workflows')?.errors?.() ?? []).map((e) => ({ file: basename(e.file), reason: e.reason }));
      http.status = reasons.length ? 503 : 200;
      http.body = { ready: reasons.length === 0, storage: storage?.isOpen() ?? false, backends, reasons, ...(workflowErrors.length ? { workflow_errors: workflowErrors } : {}) };
    },
  });
}

const READY_SCHEMA = {
  type: 'object',
  required: ['ready', 'storage', 'backends', 'reasons'],
  properties: {
    ready: { type: 'boolean' },
    storage: { type: 'boolean' },
    backends: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          up: { type: 'boolean' },
          queue_remaining: { type: ['integer', 'null'] },
          lacks: {
            type: 'array',
            items: { type: 'string' },
            description: 'Present when this backend lacks what some workflow needs: each node class, model file or tag, with the workflow. It does not make the bridge unready.',
          },
        },
      },
    },
    reasons: { type: 'array', items: { type: 'string' } },
    workflow_errors: {
      type: 'array',
      description: 'Present when workflow files were skipped at the last (re)load: each file and why. They do not make the bridge unready.',
      items: { type: 'object', properties: { file: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
};
