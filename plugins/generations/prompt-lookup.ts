import type { PromptLookup } from '../../contracts/transport.js';
import type { GenerationContext } from './generation-context.js';

/** Asks the backend what became of a prompt, giving up after a while so a hung backend cannot stall a check. */
export async function lookupPrompt(ctx: GenerationContext, promptId: string, backend: string): Promise<PromptLookup> {
  const ms = Math.max(500, Math.min(10_000, ctx.deps.options.stuckAfterMs));
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ctx.deps.transport.lookup(promptId, backend),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`lookup timed out after ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
