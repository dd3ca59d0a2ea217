import { randomBytes, randomUUID } from 'node:crypto';

/** 'gen_' + 24 url-safe random characters: opaque and unguessable, never sequential. */
export const newGenerationId = (): string => `gen_${randomBytes(18).toString('base64url')}`;

/** The prompt_id the bridge mints for ComfyUI (a resubmission gets a new one). */
export const newPromptId = (): string => randomUUID();

/** The shape newGenerationId produces (checked before an id from a URL touches anything). */
export const GENERATION_ID = /^gen_[A-Za-z0-9_-]{8,64}$/;
