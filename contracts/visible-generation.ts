import { canSee, type Principal } from './auth.js';
import type { Generation } from './generation.js';

/** The two reads this needs of the generations service. */
export interface GenerationReader {
  get(id: string): Promise<Generation | undefined>;
  latestForClient(clientId: string): Promise<Generation | undefined>;
}

export interface GenerationRef {
  id?: string;
  clientId?: string;
}

/**
 * The generation a request names (by id, else the latest of clientId) when the caller may see it and,
 * with both given, it belongs to that clientId. Undefined otherwise: a generation of another key must
 * read exactly like a missing one, so callers answer 404 for both and ids do not leak.
 */
export async function findVisibleGeneration(
  generations: GenerationReader,
  ref: GenerationRef,
  principal: Principal,
): Promise<Generation | undefined> {
  let gen: Generation | undefined;
  if (ref.id !== undefined) gen = await generations.get(ref.id);
  else if (ref.clientId !== undefined) gen = await generations.latestForClient(ref.clientId);
  if (!gen || (ref.clientId !== undefined && gen.clientId !== ref.clientId) || !canSee(principal, gen.owner)) return undefined;
  return gen;
}
