import { randomFillSync, randomUUID } from 'node:crypto';

const ID_BYTES = 18;
/** Random bytes for 64 ids, filled at once: one call into the CSPRNG per 64 generations, not one each. */
const pool = Buffer.alloc(ID_BYTES * 64);
let used = pool.length;

/** 'gen_' + 24 url-safe random characters: opaque and unguessable, never sequential. */
export const newGenerationId = (): string => {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += ID_BYTES;
  return `gen_${pool.toString('base64url', used - ID_BYTES, used)}`;
};

/** The prompt_id the bridge mints for ComfyUI (a resubmission gets a new one). */
export const newPromptId = (): string => randomUUID();

/** The shape newGenerationId produces (checked before an id from a URL touches anything). */
export const GENERATION_ID = /^gen_[A-Za-z0-9_-]{8,64}$/;
