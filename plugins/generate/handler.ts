import type { Context } from 'koa';
import type { AccessControl } from '../../contracts/auth.js';
import type { Generation } from '../../contracts/generation.js';
import type { GenerationService } from '../../plugins/generations/api.js';
import type { Graph } from '../../contracts/graph.js';
import { retryAfter, type Transport } from '../../contracts/transport.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { Workflow, WorkflowRegistry } from '../../plugins/workflows/api.js';
import { badRequest, internal, notFound, tooManyRequests } from '../../core/errors.js';
import { idempotencyKeyOf, idempotencyScope, IdempotentRequests, requestFingerprint, type IdempotentAnswer } from '../../contracts/idempotency.js';
import type { Storage } from '../../contracts/storage.js';
import { newGenerationId } from './generation-id.js';
import { ActiveCaps, type ActiveCounts } from './active-cap.js';
import { KeyQuotas } from './quotas.js';
import type { QuotaLimit } from './quota-options.js';
import { requireCapableBackend } from './capable-backend.js';
import { checkImageInputs, shippedImageInputs } from './image-inputs.js';
import { storeRemoteImages } from './remote-images.js';
import type { Resolver } from '../../lib/outbound.js';
import { describeInputErrors, InputValidators } from './input-validator.js';
import type { GenerateOptions } from './options.js';
import type { WebhookService } from '../../plugins/webhooks/api.js';
import type { RouteInput } from '../../core/plugin.js';
import { markLife } from '../../contracts/life-marks.js';
import type { GenerateBody, GenerateQuery, generateBody, generateQuery } from './route-schemas.js';

/** Keys of the body that are not workflow inputs. */
const CONTROL_KEYS = new Set(['workflow', 'clientId', 'wait', 'webhook']);

export interface GenerateDeps {
  workflows: WorkflowRegistry;
  generations: GenerationService;
  uploads: () => UploadService | undefined;
  access: () => AccessControl | undefined;
  /** Where Idempotency-Key claims are kept. */
  storage: () => Storage | undefined;
  /** DNS for image URLs (tests inject one); the system's when undefined. */
  resolver: () => Resolver | undefined;
  transport?: () => Transport | undefined;
  options: GenerateOptions;
  /** Signed callbacks of the generation's events (plugins/webhooks), when loaded. */
  webhooks?: () => WebhookService | undefined;
  /** Set when several instances share the store: the caps count queued + running from it (shared-active.ts). */
  sharedActiveCounts?: (clientId: string) => Promise<ActiveCounts>;
  /** Told of each 429 `quota_exceeded`, with the limit it hit (the `quotaStats` service counts them). */
  onQuotaRefused?: (limit: QuotaLimit) => void;
}

/** The body of the immediate answer: the original bridge's "queued / <position>". */
export function queuedBody(gen: Generation) {
  const position = gen.position ?? 0;
  return { id: gen.id, clientId: gen.clientId, workflow: gen.workflow, status: 'queued' as const, position, detail: `queued / ${position}` };
}

/** The clientId from the query or the body; both given must agree. */
function clientIdOf(query: GenerateQuery, body: GenerateBody): string {
  if (query.clientId !== undefined && body.clientId !== undefined && query.clientId !== body.clientId) {
    throw badRequest('clientId differs between the query and the body; send it once');
  }
  const clientId = query.clientId ?? body.clientId;
  if (clientId === undefined) throw badRequest('clientId is required (in the query, ?clientId=, or the body): 1–128 characters of [A-Za-z0-9._:-]');
  return clientId;
}

/**
 * The workflow graph with the client's values written into their nodes; defaults stay as stored. A graph is
 * plain JSON (and generations copies it the same way): a JSON round trip copies it several times faster than
 * structuredClone, once per request.
 */
function fillGraph(workflow: Workflow, values: Record<string, unknown>): Graph {
  const graph = JSON.parse(JSON.stringify(workflow.graph)) as Graph;
  for (const [key, value] of Object.entries(values)) {
    const slash = key.indexOf('/');
    graph[key.slice(0, slash)]!.inputs[key.slice(slash + 1)] = value;
  }
  return graph;
}

export function generateHandler(deps: GenerateDeps) {
  const validators = new InputValidators();
  const caps = new ActiveCaps(
    { perClient: deps.options.maxActivePerClient, all: deps.options.maxActive },
    deps.sharedActiveCounts ?? ((clientId) => ({ client: deps.generations.activeCount(clientId), all: deps.generations.activeCount() })),
  );
  const quotas = new KeyQuotas(deps.options.quotas ?? { default: {}, keys: {} }, deps.storage, deps.options.retryAfterSeconds, deps.onQuotaRefused);
  const idempotent = new IdempotentRequests(() => {
    const storage = deps.storage();
    if (!storage) throw internal('Idempotency-Key needs a storage plugin, and none is loaded');
    return storage.idempotency;
  });

  return async (ctx: Context, { query, body, principal }: RouteInput<typeof generateQuery, typeof generateBody>): Promise<void> => {
    markLife('generate: handler');
    const idempotencyKey = idempotencyKeyOf(ctx.headers);
    const clientId = clientIdOf(query, body);
    const wait = query.wait ?? body.wait ?? false;
    await deps.access()?.claimClient(clientId, principal);

    const alias = body.workflow;
    const workflow = deps.workflows.get(alias);
    const inputs = workflow ? await deps.workflows.describe(alias) : undefined;
    if (!workflow || !inputs) throw notFound(`no workflow named "${alias}" (GET /workflow-list lists them)`);

    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) if (!CONTROL_KEYS.has(key)) values[key] = value;
    const validate = validators.for(alias, inputs);
    if (!validate(values)) throw badRequest(describeInputErrors(validate.errors, alias, Object.keys(inputs)));
    // What the client asked for, before image URLs become stored names (an Idempotency-Key compares this; a copy only then).
    const requested = idempotencyKey === undefined ? undefined : structuredClone(values);
    const webhooks = deps.webhooks?.();
    if (body.webhook !== undefined && !webhooks) throw badRequest('webhooks are not enabled on this bridge (the operator enables plugins.webhooks)');
    const webhook = await webhooks?.target(principal, body.webhook);
    let graph = fillGraph(workflow, values);
    requireCapableBackend(deps.transport?.(), alias, graph);
    const asSent = { ...values };
    await storeRemoteImages({ inputs, values, clientId, principal, uploads: deps.uploads(), options: deps.options.imageInputs, resolve: deps.resolver() });
    // Image URLs became stored names: filled again with those (else the graph above is the one; generations copies it).
    if (Object.keys(values).some((key) => values[key] !== asSent[key])) graph = fillGraph(workflow, values);
    const uploads = await checkImageInputs({ workflow, inputs, values, clientId, principal, uploads: deps.uploads() });

    const start = async (minted?: string): Promise<IdempotentAnswer> => {
      // A webhook is subscribed under the generation's id before the generation is recorded.
      const id = minted ?? (webhook ? newGenerationId() : undefined);
      const gen = webhook && webhooks && id ? await webhooks.subscribed(id, webhook, () => create(id)) : await create(id);
      if (wait) {
        const ended = await deps.generations.waitForEnd(gen.id, deps.options.waitTimeoutMs);
        if (ended) return { status: 200, body: deps.generations.frame(ended) };
        return { status: 202, body: queuedBody(gen) };
      }
      return { status: 200, body: queuedBody(gen) };
    };

    const create = async (id?: string): Promise<Generation> => {
      const retry = { headers: retryAfter(deps.options.retryAfterSeconds) };
      // The key's own quotas first: 429 quota_exceeded naming the limit (docs/fair-share.md).
      const releaseQuota = await quotas.reserve(principal, clientId);
      // Both 429 caps (bridge-wide first, then the client's) from one count.
      const releaseCaps = await caps.reserve(clientId).catch((error: unknown) => {
        releaseQuota();
        throw error;
      });
      if (releaseCaps === 'all') {
        releaseQuota();
        throw tooManyRequests(`the bridge already has ${deps.options.maxActive} generations queued or running; try again shortly`, retry);
      }
      if (releaseCaps === 'client') {
        releaseQuota();
        throw tooManyRequests(`client ${clientId} already has ${deps.options.maxActivePerClient} generations queued or running; wait for one to end`, retry);
      }
      try {
        const shippedFiles = shippedImageInputs(workflow, inputs, values);
        for (const key of Object.keys(uploads)) delete shippedFiles[key];
        return await deps.generations.create({ id, workflow: alias, clientId, principal, graph, uploads, shippedFiles });
      } finally {
        releaseCaps();
        releaseQuota();
      }
    };

    let answer: IdempotentAnswer;
    if (idempotencyKey === undefined) {
      answer = await start();
    } else {
      // The generation id is minted before the claim is stored, so a retry after a crash finds the generation the cut request made.
      const result = await idempotent.run({
        scope: idempotencyScope(principal, clientId),
        key: idempotencyKey,
        fingerprint: requestFingerprint({ route: 'generate', workflow: alias, clientId, wait, values: requested, webhook: body.webhook }),
        mintRef: newGenerationId,
        work: (id) => start(id),
        recover: async (id) => {
          const gen = await deps.generations.get(id);
          return gen ? { status: 200, body: queuedBody(gen) } : undefined;
        },
      });
      if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
      answer = result;
    }
    markLife('generate: answer');
    ctx.status = answer.status;
    ctx.body = answer.body;
  };
}
