import type { Graph } from '../../contracts/graph.js';
import type { Transport } from '../../contracts/transport.js';

/**
 * Whether a workflow can run now: an up backend lacks nothing it needs. `missing` lists, per
 * backend, what it lacks ("down" for a backend that is not up). Undefined when the transport
 * cannot tell (none, or one without capabilities).
 */
export function availabilityOf(
  transport: Transport | undefined,
  workflow: string,
  graph: Graph,
): { available: boolean; missing: Record<string, string[]> } | undefined {
  const fits = transport?.fit?.({ graph, workflow });
  if (!fits) return undefined;
  const available = fits.some((fit) => fit.up && fit.missing.length === 0);
  const missing: Record<string, string[]> = {};
  for (const fit of fits) {
    if (!fit.up) missing[fit.backend] = ['down', ...fit.missing];
    else if (fit.missing.length > 0) missing[fit.backend] = fit.missing;
  }
  return { available, missing };
}
