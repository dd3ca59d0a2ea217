import type { Generation } from '../../contracts/generation.js';

/**
 * A whole generation record, as storage holds one, from only the fields a test cares about: the rest
 * is a generation just accepted (queued, no backend, nothing run). Keys keep the contract's order.
 */
export function generationRecord(fields: Pick<Generation, 'id' | 'createdAt'> & Partial<Generation>): Generation {
  const { id, createdAt, ...rest } = fields;
  return {
    id,
    clientId: 'client-a',
    owner: null,
    workflow: 'text-to-image',
    state: 'queued',
    promptId: `p-${id}`,
    backend: null,
    graph: {},
    uploads: [],
    createdAt,
    startedAt: null,
    finishedAt: null,
    updatedAt: createdAt,
    position: null,
    percent: 0,
    node: null,
    step: null,
    maxSteps: null,
    totalNodes: 1,
    doneNodes: [],
    results: [],
    error: null,
    attempts: 0,
    ...rest,
  };
}

export interface NumberedGenerationsOptions {
  /** When the first one was created; each next one is a second later. */
  start: string;
  idPrefix: string;
  /** Zero-pads the number in the id to this many digits. */
  idDigits?: number;
  /** Fields every generation of this builder has (the call's overrides still win). */
  defaults?: Partial<Generation>;
}

/**
 * A builder of numbered generations: the n-th (from 1) is created n seconds after `start` and gets
 * the id `<idPrefix><n>` and promptId `prompt-<n>`, so ids and creation order sort alike.
 */
export function numberedGenerations(options: NumberedGenerationsOptions): (overrides?: Partial<Generation>) => Generation {
  let n = 0;
  return (overrides = {}) => {
    n++;
    return generationRecord({
      id: `${options.idPrefix}${String(n).padStart(options.idDigits ?? 0, '0')}`,
      createdAt: new Date(Date.parse(options.start) + n * 1000).toISOString(),
      promptId: `prompt-${n}`,
      ...options.defaults,
      ...overrides,
    });
  };
}
