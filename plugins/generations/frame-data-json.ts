import { encodedFrameData } from '../../contracts/client-frame.js';
import type { Generation } from '../../contracts/generation.js';

/**
 * The JSON text of a progress frame's `data` (buildFrame, a generation not yet final), put where the
 * ws hub finds it (contracts/client-frame.ts, encodedFrameData) so it does not JSON-encode the frame
 * again. Built from a template per generation: the fields that do not move while it runs are encoded
 * once, the four that do (percent, node, step, max_steps) each time. Exactly JSON.stringify(data): the
 * same keys in the same order (buildFrame's), each value encoded as JSON.stringify encodes it.
 */
export interface DataTemplate {
  readonly id: string;
  readonly workflow: string;
  readonly state: string;
  readonly position: number | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** `{"id":…,"workflow":…,"state":…,"position":…,"percent":` */
  readonly head: string;
  /** `,"result_urls":[],"error_message":null,"queued_at":…,"started_at":…,"finished_at":…}` */
  readonly tail: string;
}

/**
 * Encodes `data` (buildFrame's data of `gen`, not final) and records it for the hub; returns the
 * template to pass next time (a new one when a fixed field moved). undefined, and nothing recorded,
 * for a shape it does not know (a field missing from an old row): the hub then encodes `data` itself.
 */
export function encodeProgressData(gen: Generation, data: Record<string, unknown>, template: DataTemplate | undefined): DataTemplate | undefined {
  const t = fits(template, gen) ? template : makeTemplate(gen);
  if (!t || gen.percent === undefined || gen.node === undefined || gen.step === undefined || gen.maxSteps === undefined) return undefined;
  if (data.percent !== gen.percent || data.result_urls === undefined || (data.result_urls as unknown[]).length !== 0 || data.error_message !== null) return undefined;
  encodedFrameData.set(data, `${t.head}${json(gen.percent)},"node":${json(gen.node)},"step":${json(gen.step)},"max_steps":${json(gen.maxSteps)}${t.tail}`);
  return t;
}

function fits(t: DataTemplate | undefined, gen: Generation): t is DataTemplate {
  return (
    t !== undefined &&
    t.id === gen.id &&
    t.workflow === gen.workflow &&
    t.state === gen.state &&
    t.position === gen.position &&
    t.createdAt === gen.createdAt &&
    t.startedAt === gen.startedAt &&
    t.finishedAt === gen.finishedAt
  );
}

function makeTemplate(gen: Generation): DataTemplate | undefined {
  const { id, workflow, state, position, createdAt, startedAt, finishedAt } = gen;
  // JSON.stringify leaves out a key whose value is undefined: no template for such a row.
  if ([id, workflow, state, position, createdAt, startedAt, finishedAt].includes(undefined as never)) return undefined;
  return {
    id,
    workflow,
    state,
    position,
    createdAt,
    startedAt,
    finishedAt,
    head: `{"id":${json(id)},"workflow":${json(workflow)},"state":${json(state)},"position":${json(position)},"percent":`,
    tail: `,"result_urls":[],"error_message":null,"queued_at":${json(createdAt)},"started_at":${json(startedAt)},"finished_at":${json(finishedAt)}}`,
  };
}

/** One value as JSON.stringify writes it inside an object (never undefined here: checked before). */
function json(value: string | number | null): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isFinite(value) ? `${value}` : 'null';
  return JSON.stringify(value);
}
