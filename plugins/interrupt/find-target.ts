import { canSee, type AccessControl, type Principal } from '../../contracts/auth.js';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import type { GenerationService } from '../../plugins/generations/api.js';
import type { Storage } from '../../contracts/storage.js';
import { notFound } from '../../core/errors.js';
import { findVisibleGeneration } from '../../contracts/visible-generation.js';

export interface TargetRequest {
  id?: string;
  clientId?: string;
}

export interface TargetDeps {
  generations: GenerationService;
  access?: AccessControl;
  storage?: Storage;
}

/** How far back to look for a client's unfinished generation when its latest one has already ended. */
const UNFINISHED_SCAN = 20;

/**
 * The one generation an interrupt is about: the named one, or the client's newest unfinished one
 * (else its latest, to report that it already ended). Anything the caller may not see is "not found".
 */
export async function findTarget(request: TargetRequest, principal: Principal, deps: TargetDeps): Promise<Generation> {
  if (request.id !== undefined) {
    const gen = await findVisibleGeneration(deps.generations, request, principal);
    if (!gen) throw notFound(`generation ${request.id} not found`);
    return gen;
  }
  const clientId = request.clientId!;
  const latest = await findVisibleGeneration(deps.generations, { clientId }, principal);
  // Checked before claiming: probing a clientId that has nothing for this caller must not bind it.
  if (!latest) throw notFound(`clientId ${clientId} has no generation`);
  // An interrupt checks the clientId; only generating and uploading bind one.
  await deps.access?.checkClient(clientId, principal);
  if (!FINAL_STATES.has(latest.state)) return latest;
  return (await newestUnfinished(clientId, principal, deps)) ?? latest;
}

/** A client may start several generations; the latest can end first while an older one still runs. */
async function newestUnfinished(clientId: string, principal: Principal, { storage, generations }: TargetDeps): Promise<Generation | undefined> {
  if (!storage) return undefined;
  const pages = await Promise.all(
    (['running', 'queued'] as const).map((state) => storage.generations.page({ clientId, state, limit: UNFINISHED_SCAN, offset: 0 })),
  );
  const found = pages
    .flatMap((page) => page.items)
    .filter((gen) => canSee(principal, gen.owner))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  // The stored row of a live generation may lag it (`running` is written behind): report it as it is now.
  return found && ((await generations.get(found.id)) ?? found);
}
