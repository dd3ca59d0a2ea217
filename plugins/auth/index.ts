import { STAGE } from '../../core/hooks.js';
import { definePlugin } from '../../core/plugin.js';
import { unauthorized } from '../../core/errors.js';
import { isAdmin, type Principal } from '../../contracts/auth.js';
import { ClientOwners } from './client-owners.js';
import { SharedClientOwners } from './shared-client-owners.js';
import { presentedKey } from './extract-key.js';
import { KeyRing } from './key-ring.js';
import { optionsSchema, parseKeys, type AuthOptions } from './options.js';

const PLUGIN = 'auth';

const REALM = 'Bearer realm="comfy-bridge"';
/** How often ended clientId bindings are deleted from a shared store. */
const PRUNE_EVERY_MS = 10 * 60_000;

/**
 * API keys with client and admin scopes. Off unless the config enables it (plugins.auth.keys or
 * COMFY_BRIDGE_API_KEYS). It answers every non-public request: a strategy that should run before it
 * taps `authenticate` with a stage below STAGE.AUTH.
 */
export default definePlugin<AuthOptions>({
  name: PLUGIN,
  description: 'API keys (Authorization: Bearer or X-API-Key) with client and admin scopes; binds each clientId to one key.',
  dependencies: ['storage'],
  // A fleet announces new bindings on the bus, so sockets on other instances that squat a clientId are closed.
  optionalDependencies: ['bus'],
  provides: ['access', 'keyWebhooks'],
  options: optionsSchema,
  env: {
    COMFY_BRIDGE_API_KEYS: { key: 'keys', description: 'Turns auth on: "key1:admin,key2:client" (a key without a scope is client).' },
  },
  register(ctx) {
    const specs = parseKeys(ctx.options.keys);
    const ring = new KeyRing(specs);
    // Each key's webhook secret and default receiver, by key id (principals come in the specs' order).
    const webhooks = new Map(ring.principals().flatMap((principal, i) => (specs[i]!.webhook ? [[principal.id, specs[i]!.webhook!] as const] : [])));
    ctx.provide('keyWebhooks', { forKey: (id) => webhooks.get(id) });
    // Only client keys hold clientIds: an admin passes everywhere and binds nothing.
    const owners = ring.principals().filter((principal) => !isAdmin(principal)).map((principal) => principal.id);
    const storage = ctx.use('storage');
    const limits = { ttlMs: ctx.options.bindingTtlMs, maxPerKey: ctx.options.maxBoundClientIds };
    if (storage.shared) {
      // Several instances: the store is the truth (a binding made on one holds on all at once).
      const shared = new SharedClientOwners(storage.clientBindings, limits, ctx.tryUse('bus'), (error) =>
        ctx.log.warn({ err: error }, 'could not announce a new clientId binding to the other instances'),
      );
      ctx.provide('access', shared);
      const pruning = setInterval(() => {
        shared.prune().catch((error: unknown) => ctx.log.warn({ err: error }, 'could not delete expired clientId bindings'));
      }, PRUNE_EVERY_MS);
      pruning.unref();
      ctx.onClose(() => {
        clearInterval(pruning);
        shared.close();
      });
    } else {
      ctx.provide('access', new ClientOwners(storage.kv, owners, limits));
    }

    ctx.hooks.authenticate.tapPromise({ name: PLUGIN, stage: STAGE.AUTH }, async (request): Promise<Principal> => {
      const key = presentedKey(request);
      if (key === undefined) {
        throw unauthorized('an API key is required: send "Authorization: Bearer <key>" or "X-API-Key: <key>"', {
          headers: { 'WWW-Authenticate': REALM },
        });
      }
      const principal = ring.find(key);
      if (!principal) {
        throw unauthorized('the API key is not valid', { headers: { 'WWW-Authenticate': `${REALM}, error="invalid_token"` } });
      }
      return principal;
    });

    ctx.log.info({ keys: ring.ids() }, 'auth on: %d API key(s)', ring.size);
  },
});
