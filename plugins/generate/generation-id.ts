import { randomBytes } from 'node:crypto';

/**
 * A generation id minted here, before the generation exists, for an Idempotency-Key claim to name
 * (CreateGeneration.id). The same shape plugins/generations mints: 'gen_' + 24 url-safe random characters.
 */
export const newGenerationId = (): string => `gen_${randomBytes(18).toString('base64url')}`;
