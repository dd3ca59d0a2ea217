import { Type, type Static } from '@sinclair/typebox';
import { BootError } from '../../core/errors.js';
import type { Scope } from '../../contracts/auth.js';
import { KEY_WEBHOOK_SCHEMA, type KeyWebhookSettings } from '../../contracts/outbox.js';

/** One configured API key, as the operator wrote it (the key itself never leaves this plugin). */
export interface KeySpec {
  id?: string;
  key: string;
  scopes: Scope[];
  /** Webhook signing secret and default receiver (object form only). */
  webhook?: KeyWebhookSettings;
}

const SCOPES: readonly Scope[] = ['client', 'admin'];
/** Keys go in headers and query strings: printable ASCII without spaces keeps them intact everywhere. */
const KEY_CHARACTERS = /^[\x21-\x7e]+$/;
export const MIN_KEY_LENGTH = 16;

const keyObject = Type.Object(
  {
    id: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', description: 'Names the key in logs and as the owner of generations; defaults to a short prefix of its SHA-256.' }),
    ),
    key: Type.String({ description: `The secret itself, at least ${MIN_KEY_LENGTH} characters.` }),
    // Optional in the type: ajv applies no defaults inside anyOf branches (fromObject fills it).
    scopes: Type.Optional(
      Type.Array(Type.Unsafe<Scope>({ enum: [...SCOPES] }), {
        minItems: 1,
        uniqueItems: true,
        default: ['client'],
        description: 'client: use the API with its own clientIds; admin: everything (free, every client, full history).',
      }),
    ),
    webhook: Type.Optional(Type.Unsafe<KeyWebhookSettings>(KEY_WEBHOOK_SCHEMA)),
  },
  { additionalProperties: false },
);

/** A key object as the config file may write it (scopes default to client). */
export type KeyEntry = Static<typeof keyObject>;

export const optionsSchema = Type.Object(
  {
    /** Objects, compact strings ("key:admin"), or one compact string "key1:admin,key2:client" (COMFY_BRIDGE_API_KEYS). */
    keys: Type.Union([Type.String(), Type.Array(Type.Union([Type.String(), keyObject]))], {
      description:
        'API keys. Either a list of {id?, key, scopes} (or compact "key:scope" strings), or one string ' +
        '"key1:admin,key2:client" as COMFY_BRIDGE_API_KEYS gives it. A key without ":scope" is a client key; ' +
        '"key:admin+client" names both scopes. In the compact form a key cannot contain "," or ":".',
    }),
    bindingTtlMs: Type.Integer({
      minimum: 1000,
      default: 24 * 60 * 60 * 1000,
      description: 'A clientId stays bound to a key this long after the last generation or upload with it; then any key may take it.',
    }),
    maxBoundClientIds: Type.Integer({
      minimum: 1,
      default: 10_000,
      description: 'Most clientIds one key may hold bound at once; a generate or upload on a new clientId past it answers 429.',
    }),
  },
  { additionalProperties: false },
);

export type AuthOptions = Static<typeof optionsSchema>;

/** Turns every accepted form into KeySpecs and checks them; messages name the entry, never the key. */
export function parseKeys(keys: AuthOptions['keys']): KeySpec[] {
  const entries = typeof keys === 'string' ? splitCompactList(keys) : keys;
  const specs = entries.map((entry, index) => (typeof entry === 'string' ? parseCompact(entry.trim(), index) : fromObject(entry)));
  if (specs.length === 0) throw new BootError('plugin "auth" is on but has no API keys: set plugins.auth.keys or COMFY_BRIDGE_API_KEYS');
  specs.forEach((spec, index) => checkKey(spec, index));
  return specs;
}

function splitCompactList(list: string): string[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

// ajv applies no defaults inside anyOf branches, so the object form gets its default scope here.
function fromObject(entry: KeyEntry): KeySpec {
  return {
    ...(entry.id === undefined ? {} : { id: entry.id }),
    key: entry.key,
    scopes: [...(entry.scopes ?? ['client'])],
    ...(entry.webhook === undefined ? {} : { webhook: entry.webhook }),
  };
}

function parseCompact(entry: string, index: number): KeySpec {
  const colon = entry.lastIndexOf(':');
  if (colon === -1) return { key: entry, scopes: ['client'] };
  const named = entry.slice(colon + 1).split('+');
  if (!named.every((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope))) {
    throw new BootError(
      `plugins.auth.keys entry #${index + 1} does not end with a known scope (":client", ":admin" or ":admin+client"); ` +
        'in the compact form a key cannot contain ":"',
    );
  }
  return { key: entry.slice(0, colon), scopes: [...new Set(named)] };
}

function checkKey(spec: KeySpec, index: number): void {
  const name = spec.id === undefined ? `entry #${index + 1}` : `entry #${index + 1} (id "${spec.id}")`;
  if (spec.key.length < MIN_KEY_LENGTH) {
    throw new BootError(`plugins.auth.keys ${name}: the key is shorter than ${MIN_KEY_LENGTH} characters; use a long random key`);
  }
  if (!KEY_CHARACTERS.test(spec.key)) {
    throw new BootError(`plugins.auth.keys ${name}: the key may only hold printable ASCII characters without spaces`);
  }
}
