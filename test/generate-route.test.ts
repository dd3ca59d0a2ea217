import { expect } from 'chai';
import { isAdmin, type AccessControl, type Principal } from '../contracts/auth.js';
import type { UploadRecord } from '../contracts/storage.js';
import type { UploadService } from '../plugins/upload/api.js';
import type { Workflow, WorkflowInput, WorkflowRegistry } from '../plugins/workflows/api.js';
import { BridgeError, notFound } from '../core/errors.js';
import type { PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { StubGenerations, stubGenerationsPlugin } from './ws-stub-generations.js';
import { delay } from './ws-support.js';

const GRAPH = {
  '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 20, cfg: 8, sampler_name: 'euler', model: ['4', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'model.safetensors' } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
  '10': { class_type: 'LoadImage', inputs: { image: 'example.png' } },
  '11': { class_type: 'Switch', inputs: { flag: true } },
};

function inputs(): Record<string, WorkflowInput> {
  return {
    '6/text': { type: 'str', title: 'Prompt', class: 'CLIPTextEncode', default: 'a cat' },
    '3/seed': { type: 'int', title: 'Seed', class: 'KSampler', default: 1, min: 0 },
    '3/steps': { type: 'int', title: 'Steps', class: 'KSampler', default: 20, min: 1, max: 100 },
    '3/cfg': { type: 'float', title: 'CFG', class: 'KSampler', default: 8, min: 0, max: 30 },
    '3/sampler_name': { type: 'str', title: 'Sampler', class: 'KSampler', default: 'euler', options: ['euler', 'ddim'] },
    '10/image': { type: 'str', title: 'Image', class: 'LoadImage', default: 'example.png', kind: 'image' },
    '11/flag': { type: 'bool', title: 'Flag', class: 'Switch', default: true },
  };
}

/** A workflows service with one workflow whose described inputs the test may change. */
class StubWorkflows implements WorkflowRegistry {
  described = inputs();
  readonly workflow: Workflow = {
    alias: 'painter',
    description: 'test',
    thumbnail: null,
    file: 'painter.json',
    graph: structuredClone(GRAPH),
    inputs: inputs(),
    shippedFiles: ['example.png', 'mask.png'],
  };
  list(): Workflow[] {
    return [this.workflow];
  }
  get(alias: string): Workflow | undefined {
    return alias === 'painter' ? this.workflow : undefined;
  }
  async describe(alias: string): Promise<Record<string, WorkflowInput> | undefined> {
    return alias === 'painter' ? structuredClone(this.described) : undefined;
  }
}

/** Uploads by name, each owned by one clientId; like the real service, an admin (auth off: everyone) finds them all. */
class StubUploads implements UploadService {
  readonly owners = new Map<string, string>();
  async find(name: string, clientId: string, principal: Principal): Promise<UploadRecord | undefined> {
    const owner = this.owners.get(name);
    if (owner === undefined || (owner !== clientId && !isAdmin(principal))) return undefined;
    return { name, clientId: owner, owner: null, field: 'f', contentType: 'image/png', size: 1, width: 1, height: 1, createdAt: '', usedBy: [] };
  }
  pathOf(name: string): string {
    return `/nonexistent/${name}`;
  }
  async markUsed(): Promise<void> {}
}

class StubAccess implements AccessControl {
  readonly claims: string[] = [];
  async claimClient(clientId: string): Promise<void> {
    this.claims.push(clientId);
    if (clientId === 'someone-elses') throw notFound(`no client ${clientId}`);
  }
  async checkClient(): Promise<void> {
    throw new Error('generate binds clientIds; it never only checks them');
  }
}

function fixtures(services: { workflows: StubWorkflows; uploads: StubUploads; access: StubAccess }): PluginManifest<never> {
  return providing('generate-fixtures', services);
}

describe('POST /generate-based-workflow (scripted services)', () => {
  let bridge: RunningBridge | undefined;
  let generations: StubGenerations;
  let workflows: StubWorkflows;
  let uploads: StubUploads;
  let access: StubAccess;

  async function start(options: Record<string, unknown> = {}): Promise<void> {
    generations = new StubGenerations();
    workflows = new StubWorkflows();
    uploads = new StubUploads();
    access = new StubAccess();
    bridge = await startBridge({
      plugins: { generate: options },
      extraPlugins: [stubGenerationsPlugin(generations), fixtures({ workflows, uploads, access })],
    });
  }

  async function post(body: unknown, query = '?clientId=client-1'): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(`${bridge!.url}/generate-based-workflow${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  describe('accepted', () => {
    beforeEach(() => start());

    it('answers queued at once with the original bridge detail, the graph filled and defaults kept', async () => {
      generations.position = 2;
      const answer = await post({ workflow: 'painter', '6/text': 'a red fox', '3/seed': 42, '11/flag': false });
      expect(answer.status).to.equal(200);
      const id = answer.body.id as string;
      expect(answer.body).to.deep.equal({ id, clientId: 'client-1', workflow: 'painter', status: 'queued', position: 2, detail: 'queued / 2' });
      const [created] = generations.creates;
      expect(created!.clientId).to.equal('client-1');
      expect(created!.graph['6']!.inputs.text).to.equal('a red fox');
      expect(created!.graph['3']!.inputs).to.deep.equal({ seed: 42, steps: 20, cfg: 8, sampler_name: 'euler', model: ['4', 0] });
      expect(created!.graph['11']!.inputs.flag).to.equal(false);
      expect(created!.uploads).to.deep.equal({});
      // The workflow itself is never changed by a request.
      expect(workflows.workflow.graph).to.deep.equal(GRAPH);
      expect(access.claims).to.deep.equal(['client-1']);
    });

    it('takes the clientId from the body too, and accepts an integral value for a float input', async () => {
      const answer = await post({ workflow: 'painter', clientId: 'from-body', '3/cfg': 7 }, '');
      expect(answer.status).to.equal(200);
      expect(answer.body.clientId).to.equal('from-body');
      expect(generations.creates[0]!.graph['3']!.inputs.cfg).to.equal(7);
    });

    it('accepts the client’s own upload, a shipped file, and the default for an image input', async () => {
      uploads.owners.set('cb_mine.png', 'client-1');
      expect((await post({ workflow: 'painter', '10/image': 'cb_mine.png' })).status).to.equal(200);
      expect(generations.creates[0]!.uploads).to.deep.equal({ '10/image': 'cb_mine.png' });
      expect(generations.creates[0]!.graph['10']!.inputs.image).to.equal('cb_mine.png');
      expect((await post({ workflow: 'painter', '10/image': 'mask.png' })).status).to.equal(200);
      expect(generations.creates[1]!.uploads).to.deep.equal({});
      expect((await post({ workflow: 'painter', '10/image': 'example.png' })).status).to.equal(200);
    });
  });

  describe('refused', () => {
    beforeEach(() => start());

    const refusals: [string, unknown, string, number, RegExp][] = [
      ['an unknown key', { workflow: 'painter', '99/text': 'x' }, '?clientId=c', 400, /"99\/text" is not an input of workflow "painter"/],
      ['several unknown keys', { workflow: 'painter', nope: 1, '6/txt': 'x' }, '?clientId=c', 400, /"nope", "6\/txt" are not inputs/],
      ['a string for an int', { workflow: 'painter', '3/seed': '42' }, '?clientId=c', 400, /"3\/seed" must be integer/],
      ['a fraction for an int', { workflow: 'painter', '3/seed': 4.5 }, '?clientId=c', 400, /"3\/seed" must be integer/],
      ['a number for a bool', { workflow: 'painter', '11/flag': 1 }, '?clientId=c', 400, /"11\/flag" must be boolean/],
      ['null for a string', { workflow: 'painter', '6/text': null }, '?clientId=c', 400, /"6\/text" must be string/],
      ['a value above max', { workflow: 'painter', '3/steps': 101 }, '?clientId=c', 400, /"3\/steps" must be <= 100/],
      ['a value below min', { workflow: 'painter', '3/seed': -1 }, '?clientId=c', 400, /"3\/seed" must be >= 0/],
      ['a value not among the options', { workflow: 'painter', '3/sampler_name': 'heun' }, '?clientId=c', 400, /"3\/sampler_name" must be one of \["euler","ddim"\]/],
      ['an unknown alias', { workflow: 'nothing-here' }, '?clientId=c', 404, /no workflow named "nothing-here"/],
      ['a missing workflow', { '6/text': 'x' }, '?clientId=c', 400, /workflow/],
      ['a missing clientId', { workflow: 'painter' }, '', 400, /clientId is required/],
      ['an invalid clientId in the query', { workflow: 'painter' }, '?clientId=has%20space', 400, /clientId/],
      ['an invalid clientId in the body', { workflow: 'painter', clientId: '../etc' }, '', 400, /clientId/],
      ['two different clientIds', { workflow: 'painter', clientId: 'b' }, '?clientId=a', 400, /clientId differs/],
      ['a non-boolean wait', { workflow: 'painter', wait: 'yes' }, '?clientId=c', 400, /wait/],
      ['an array body', [{ workflow: 'painter' }], '?clientId=c', 400, /object/],
      ['an image nobody uploaded', { workflow: 'painter', '10/image': 'cb_none.png' }, '?clientId=c', 400, /"10\/image": not an image uploaded by client c/],
      ['a path as image', { workflow: 'painter', '10/image': '../../etc/passwd' }, '?clientId=c', 400, /"10\/image"/],
      ['a clientId owned by another key', { workflow: 'painter' }, '?clientId=someone-elses', 404, /no client/],
    ];
    for (const [what, body, query, status, detail] of refusals) {
      it(`refuses ${what} (${status})`, async () => {
        const answer = await post(body, query);
        expect(answer.status, JSON.stringify(answer.body)).to.equal(status);
        expect(answer.body.error).to.equal(status === 404 ? 'not_found' : 'bad_request');
        expect(answer.body.detail).to.match(detail);
        expect(generations.creates).to.have.length(0);
      });
    }

    it('refuses malformed JSON with 400', async () => {
      const answer = await post('{"workflow": ', '?clientId=c');
      expect(answer.status).to.equal(400);
      expect(generations.creates).to.have.length(0);
    });

    it('refuses another client’s upload', async () => {
      uploads.owners.set('cb_theirs.png', 'client-2');
      const answer = await post({ workflow: 'painter', '10/image': 'cb_theirs.png' }, '?clientId=client-1');
      expect(answer.status).to.equal(400);
      expect(answer.body.detail).to.match(/"10\/image"/);
    });

    it('follows the workflow when its described constraints change', async () => {
      expect((await post({ workflow: 'painter', '3/steps': 100 }, '?clientId=c')).status).to.equal(200);
      workflows.described['3/steps']!.max = 50;
      const answer = await post({ workflow: 'painter', '3/steps': 100 }, '?clientId=c');
      expect(answer.status).to.equal(400);
      expect(answer.body.detail).to.match(/"3\/steps" must be <= 50/);
    });

    it('passes ComfyUI’s graph rejection through as 400 with its details', async () => {
      generations.createError = new BridgeError(400, 'graph_rejected', 'node 3 (KSampler): Value not in list: sampler_name', {
        extra: { node_errors: { '3': { errors: [] } } },
      });
      const answer = await post({ workflow: 'painter' }, '?clientId=c');
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.equal('graph_rejected');
      expect(answer.body.node_errors).to.deep.equal({ '3': { errors: [] } });
    });

    it('passes backend_unavailable through as 503 with Retry-After', async () => {
      generations.createError = new BridgeError(503, 'backend_unavailable', 'no ComfyUI backend is reachable', { headers: { 'Retry-After': '7' } });
      const answer = await post({ workflow: 'painter' }, '?clientId=c');
      expect(answer.status).to.equal(503);
      expect(answer.body.error).to.equal('backend_unavailable');
      expect(answer.headers.get('retry-after')).to.equal('7');
    });
  });

  describe('per-client cap', () => {
    it('answers 429 with Retry-After over maxActivePerClient, and only for that client', async () => {
      await start({ maxActivePerClient: 2, retryAfterSeconds: 3 });
      expect((await post({ workflow: 'painter' }, '?clientId=busy')).status).to.equal(200);
      expect((await post({ workflow: 'painter' }, '?clientId=busy')).status).to.equal(200);
      const refused = await post({ workflow: 'painter' }, '?clientId=busy');
      expect(refused.status).to.equal(429);
      expect(refused.body.error).to.equal('too_many_requests');
      expect(refused.headers.get('retry-after')).to.equal('3');
      expect((await post({ workflow: 'painter' }, '?clientId=calm')).status).to.equal(200);
      // Once one ends, there is room again.
      const [firstBusy] = [...generations.gens.values()].filter((gen) => gen.clientId === 'busy');
      generations.update(firstBusy!.id, { state: 'completed' });
      expect((await post({ workflow: 'painter' }, '?clientId=busy')).status).to.equal(200);
    });

    it('bounds the whole queue too, so rotating clientIds cannot get past it', async () => {
      await start({ maxActivePerClient: 5, maxActive: 3 });
      for (const clientId of ['a', 'b', 'c']) expect((await post({ workflow: 'painter' }, `?clientId=${clientId}`)).status).to.equal(200);
      const refused = await post({ workflow: 'painter' }, '?clientId=d');
      expect(refused.status).to.equal(429);
      expect(refused.body.detail).to.equal('the bridge already has 3 generations queued or running; try again shortly');
      expect(refused.headers.get('retry-after')).to.equal('5');
      expect(generations.creates).to.have.length(3);
      const [first] = [...generations.gens.keys()];
      generations.update(first!, { state: 'failed' });
      expect((await post({ workflow: 'painter' }, '?clientId=d')).status).to.equal(200);
    });

    it('counts requests still being submitted, so a burst cannot pass the cap', async () => {
      await start({ maxActivePerClient: 2 });
      generations.createDelayMs = 100;
      const answers = await Promise.all(Array.from({ length: 6 }, () => post({ workflow: 'painter' }, '?clientId=burst')));
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).to.deep.equal([200, 200, 429, 429, 429, 429]);
      expect(generations.creates).to.have.length(2);
    });
  });

  describe('wait', () => {
    it('with wait: true answers when the generation ends, with the execution-info body', async () => {
      await start();
      const pending = post({ workflow: 'painter', wait: true }, '?clientId=waiter');
      await delay(100);
      const [id] = [...generations.gens.keys()];
      generations.update(id!, { state: 'completed' });
      const answer = await pending;
      expect(answer.status).to.equal(200);
      expect(answer.body.status).to.equal('closed');
      expect((answer.body.data as Record<string, unknown>).id).to.equal(id);
    });

    it('with ?wait=true answers a failure with its error frame', async () => {
      await start();
      const pending = post({ workflow: 'painter' }, '?clientId=waiter&wait=true');
      await delay(100);
      const [id] = [...generations.gens.keys()];
      generations.update(id!, { state: 'failed', error: 'boom' });
      const answer = await pending;
      expect(answer.status).to.equal(200);
      expect(answer.body).to.include({ status: 'error', details: 'boom' });
    });

    it('answers 202 with the queued body after waitTimeoutMs', async () => {
      await start({ waitTimeoutMs: 150 });
      const started = Date.now();
      const answer = await post({ workflow: 'painter', wait: true }, '?clientId=waiter');
      expect(Date.now() - started).to.be.within(140, 2000);
      expect(answer.status).to.equal(202);
      expect(answer.body).to.include({ status: 'queued', clientId: 'waiter', workflow: 'painter' });
    });
  });
});
