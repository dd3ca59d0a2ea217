import type { Graph } from '../../contracts/graph.js';
import { describeUnfit, workflowUnavailable, type Transport } from '../../contracts/transport.js';

/**
 * Refuses, before anything is recorded, a generation no up backend can run (a node class, a model
 * file or a pinned tag missing everywhere): 503 `workflow_unavailable` naming what each lacks. The
 * client's values were validated already, so what is missing is the operator's to install. With no
 * backend up, or none whose capabilities are known yet, the generation goes on (the usual 503 or
 * ComfyUI's own validation answers).
 */
export function requireCapableBackend(transport: Transport | undefined, workflow: string, graph: Graph): void {
  const fits = transport?.fit?.({ graph, workflow });
  if (!fits) return;
  const up = fits.filter((fit) => fit.up);
  if (up.length === 0 || up.some((fit) => fit.missing.length === 0)) return;
  const missing = Object.fromEntries(up.map((fit) => [fit.backend, fit.missing]));
  throw workflowUnavailable(describeUnfit(workflow, up), missing);
}
