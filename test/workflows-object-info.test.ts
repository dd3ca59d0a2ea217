import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Transport } from '../contracts/transport.js';
import { constraintsFor, nodeDefinition } from '../plugins/workflows/object-info.js';
import { FileWorkflowRegistry } from '../plugins/workflows/registry.js';
import { IMAGE_SCALE_OBJECT_INFO } from './helpers/object-info.js';

/** Node definitions as ComfyUI 0.3.64 answers GET /object_info/<class> (from the protocol captures). */
const OBJECT_INFO: Record<string, Record<string, unknown>> = {
  ImageScale: IMAGE_SCALE_OBJECT_INFO,
  LoadImage: {
    LoadImage: {
      input: { required: { image: [['cb_someone_elses_upload.png', 'example.png'], { image_upload: true }] } },
      name: 'LoadImage',
    },
  },
  SaveImage: {
    SaveImage: {
      input: {
        required: {
          images: ['IMAGE', { tooltip: 'The images to save.' }],
          filename_prefix: ['STRING', { default: 'ComfyUI', tooltip: 'The prefix for the file to save.' }],
        },
        hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
      },
      name: 'SaveImage',
    },
  },
  PorterDuffImageComposite: {
    PorterDuffImageComposite: {
      input: {
        required: {
          source: ['IMAGE', {}],
          mode: ['COMBO', { default: 'DST', multiselect: false, options: ['ADD', 'CLEAR', 'DST', 'SRC'] }],
        },
      },
      name: 'PorterDuffImageComposite',
      deprecated: false,
      api_node: false,
    },
  },
  ImageStitch: {
    ImageStitch: {
      input: {
        required: {
          direction: [['right', 'down', 'left', 'up'], { default: 'right' }],
          match_image_size: ['BOOLEAN', { default: true }],
          spacing_width: ['INT', { default: 0, min: 0, max: 1024, step: 2 }],
        },
        optional: { image2: ['IMAGE'] },
      },
    },
  },
  KSampler: {
    KSampler: {
      input: {
        required: {
          seed: ['INT', { default: 0, min: 0, max: 18446744073709551615, control_after_generate: true, tooltip: 'The random seed.' }],
          steps: ['INT', { default: 20, min: 1, max: 10000, tooltip: 'The number of steps.' }],
          cfg: ['FLOAT', { default: 8.0, min: 0.0, max: 100.0, step: 0.1, round: 0.01, tooltip: 'Classifier-free guidance.' }],
        },
      },
    },
  },
  CLIPTextEncode: {
    CLIPTextEncode: {
      input: { required: { text: ['STRING', { multiline: true, dynamicPrompts: true, tooltip: 'The text to be encoded.' }], clip: ['CLIP'] } },
    },
  },
};

const definition = (classType: string) => nodeDefinition(OBJECT_INFO[classType], classType)!;

describe('workflows: constraints from /object_info', () => {
  it('reads min/max/step of INT inputs and options of a combo given as a list', () => {
    expect(constraintsFor(definition('ImageScale'), 'width')).to.deep.equal({ min: 0, max: 16384, step: 1 });
    expect(constraintsFor(definition('ImageScale'), 'upscale_method')).to.deep.equal({
      options: ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'],
    });
    expect(constraintsFor(definition('ImageStitch'), 'direction')).to.deep.equal({ options: ['right', 'down', 'left', 'up'] });
    expect(constraintsFor(definition('ImageStitch'), 'spacing_width')).to.deep.equal({ min: 0, max: 1024, step: 2 });
    expect(constraintsFor(definition('ImageStitch'), 'match_image_size')).to.deep.equal({});
  });

  it('reads the V3 "COMBO" form with {options}', () => {
    expect(constraintsFor(definition('PorterDuffImageComposite'), 'mode')).to.deep.equal({ options: ['ADD', 'CLEAR', 'DST', 'SRC'] });
  });

  it('turns tooltips into descriptions, reads multiline, and marks FLOAT inputs', () => {
    expect(constraintsFor(definition('CLIPTextEncode'), 'text')).to.deep.equal({ multiline: true, description: 'The text to be encoded.' });
    expect(constraintsFor(definition('KSampler'), 'cfg')).to.deep.equal({
      min: 0,
      max: 100,
      step: 0.1,
      float: true,
      description: 'Classifier-free guidance.',
    });
    expect(constraintsFor(definition('SaveImage'), 'filename_prefix')).to.deep.equal({ description: 'The prefix for the file to save.' });
  });

  it('marks upload combos as images and never exposes the backend file list', () => {
    expect(constraintsFor(definition('LoadImage'), 'image')).to.deep.equal({ kind: 'image' });
  });

  it('finds optional inputs, ignores unknown ones and malformed specs', () => {
    expect(constraintsFor(definition('ImageStitch'), 'image2')).to.deep.equal({});
    expect(constraintsFor(definition('ImageScale'), 'nope')).to.deep.equal({});
    expect(constraintsFor({ input: { required: { x: 'INT' } } }, 'x')).to.deep.equal({});
    expect(constraintsFor({ input: { required: { x: ['INT', { min: 'low', step: 0 }] } } }, 'x')).to.deep.equal({});
  });

  it('accepts the wrapped /object_info/<class> body or the bare definition, and rejects anything else', () => {
    expect(nodeDefinition(OBJECT_INFO.ImageScale, 'ImageScale')).to.equal(OBJECT_INFO.ImageScale.ImageScale);
    const bare = OBJECT_INFO.ImageScale.ImageScale as Record<string, unknown>;
    expect(nodeDefinition(bare, 'ImageScale')).to.equal(bare);
    expect(nodeDefinition({}, 'NoSuchNode')).to.equal(undefined);
    expect(nodeDefinition(undefined, 'ImageScale')).to.equal(undefined);
  });
});

describe('workflows: describe() enriches inputs from the backend', () => {
  let dir: string;
  const silent = pino({ level: 'silent' });
  const graph = {
    '3': {
      inputs: { seed: 1, steps: 20, cfg: 8, model: ['4', 0] },
      class_type: 'KSampler',
      _meta: { title: 'KSampler', apiinput: 'seed,steps,cfg' },
    },
    '4': { inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' }, class_type: 'CheckpointLoaderSimple', _meta: { title: 'Load Checkpoint' } },
    '6': { inputs: { text: 'a fox', clip: ['4', 1] }, class_type: 'CLIPTextEncode', _meta: { title: 'Prompt', apiinput: 'text' } },
    '10': { inputs: { image: 'example.png' }, class_type: 'LoadImage', _meta: { title: 'Load Image', apiinput: 'image' } },
    '11': {
      inputs: { upscale_method: 'nearest-exact', width: 512, height: 512, crop: 'disabled', image: ['10', 0] },
      class_type: 'ImageScale',
      _meta: { title: 'Upscale Image', apiinput: 'upscale_method,width' },
    },
  };
  const manifest = 'inputs:\n  11/width:\n    max: 2048\n    description: Target width.\n  3/steps:\n    min: 5\n';

  /** A transport that implements only objectInfo, which is all describe() needs. */
  const stubTransport = (objectInfo: (classType: string) => Promise<Record<string, unknown> | undefined>) => {
    const calls: string[] = [];
    const transport = {
      objectInfo: (classType: string) => {
        calls.push(classType);
        return objectInfo(classType);
      },
    } as unknown as Transport;
    return { transport, calls };
  };
  const registryWith = async (transport: Transport | undefined, timeoutMs = 1000) => {
    const registry = new FileWorkflowRegistry({ dir, log: silent, transport: () => transport, objectInfoTimeoutMs: timeoutMs });
    await registry.reload();
    expect(registry.errors()).to.deep.equal([]);
    return registry;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-describe-'));
    await writeFile(join(dir, 'wf.json'), JSON.stringify(graph));
    await writeFile(join(dir, 'wf.workflow.yaml'), manifest);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds min/max/step/options/multiline/description from object_info; graph and manifest values win', async () => {
    const { transport, calls } = stubTransport(async (classType) => OBJECT_INFO[classType]);
    const registry = await registryWith(transport);
    const inputs = await registry.describe('wf');
    expect(inputs).to.deep.equal({
      '3/seed': { type: 'int', title: 'KSampler', class: 'KSampler', default: 1, min: 0, max: 18446744073709551615, description: 'The random seed.' },
      '3/steps': { type: 'int', title: 'KSampler', class: 'KSampler', default: 20, min: 5, max: 10000, description: 'The number of steps.' },
      '3/cfg': { type: 'float', title: 'KSampler', class: 'KSampler', default: 8, min: 0, max: 100, step: 0.1, description: 'Classifier-free guidance.' },
      '6/text': { type: 'str', title: 'Prompt', class: 'CLIPTextEncode', default: 'a fox', multiline: true, description: 'The text to be encoded.' },
      '10/image': { type: 'str', title: 'Load Image', class: 'LoadImage', default: 'example.png', kind: 'image' },
      '11/upscale_method': {
        type: 'str',
        title: 'Upscale Image',
        class: 'ImageScale',
        default: 'nearest-exact',
        options: ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'],
      },
      '11/width': { type: 'int', title: 'Upscale Image', class: 'ImageScale', default: 512, max: 2048, description: 'Target width.', min: 0, step: 1 },
    });
    expect(calls.sort()).to.deep.equal(['CLIPTextEncode', 'ImageScale', 'KSampler', 'LoadImage']);
    // The stored workflow is not changed by describe().
    expect(registry.get('wf')?.inputs['3/cfg']).to.deep.equal({ type: 'int', title: 'KSampler', class: 'KSampler', default: 8 });
  });

  it('reuses fetched definitions instead of asking the backend on every request', async () => {
    const { transport, calls } = stubTransport(async (classType) => OBJECT_INFO[classType]);
    const registry = await registryWith(transport);
    await registry.describe('wf');
    await registry.describe('wf');
    expect(calls).to.have.length(4);
  });

  it('hands out copies of a reused answer, so a caller changing one never changes the next', async () => {
    const { transport } = stubTransport(async (classType) => OBJECT_INFO[classType]);
    const registry = await registryWith(transport);
    const first = await registry.describe('wf');
    first!['6/text']!.default = 'changed by a caller';
    const second = await registry.describe('wf');
    expect(second!['6/text']!.default).to.equal('a fox');
  });

  it('answers from the graph alone when there is no transport', async () => {
    const registry = await registryWith(undefined);
    const inputs = await registry.describe('wf');
    expect(inputs?.['3/cfg']).to.deep.equal({ type: 'int', title: 'KSampler', class: 'KSampler', default: 8 });
    expect(inputs?.['11/width']).to.deep.equal({ type: 'int', title: 'Upscale Image', class: 'ImageScale', default: 512, max: 2048, description: 'Target width.' });
  });

  it('answers from the graph alone when the backend fails or knows no such class, and asks again next time', async () => {
    let fail = true;
    const { transport, calls } = stubTransport(async (classType) => {
      if (fail) throw new Error('ECONNREFUSED');
      return classType === 'KSampler' ? {} : OBJECT_INFO[classType];
    });
    const registry = await registryWith(transport);
    const down = await registry.describe('wf');
    expect(down?.['6/text']).to.deep.equal({ type: 'str', title: 'Prompt', class: 'CLIPTextEncode', default: 'a fox' });
    fail = false;
    const up = await registry.describe('wf');
    expect(up?.['6/text']?.multiline).to.equal(true);
    expect(up?.['3/seed']).to.deep.equal({ type: 'int', title: 'KSampler', class: 'KSampler', default: 1 });
    expect(calls).to.have.length(8);
  });

  it('does not wait longer than the timeout for a backend that never answers', async () => {
    const { transport } = stubTransport(() => new Promise(() => {}));
    const registry = await registryWith(transport, 150);
    const started = Date.now();
    const inputs = await registry.describe('wf');
    const elapsed = Date.now() - started;
    expect(elapsed).to.be.within(100, 1000);
    expect(inputs?.['10/image']).to.deep.equal({ type: 'str', title: 'Load Image', class: 'LoadImage', default: 'example.png', kind: 'image' });
  });

  it('survives a transport whose objectInfo throws synchronously', async () => {
    const transport = {
      objectInfo: () => {
        throw new Error('not implemented');
      },
    } as unknown as Transport;
    const registry = await registryWith(transport);
    const inputs = await registry.describe('wf');
    expect(inputs?.['3/seed']).to.deep.equal({ type: 'int', title: 'KSampler', class: 'KSampler', default: 1 });
  });

  it('returns undefined for an unknown alias', async () => {
    const registry = await registryWith(undefined);
    expect(await registry.describe('nope')).to.equal(undefined);
  });

  describe('kept answers and the capability generation', () => {
    /** A transport that says when its capabilities change, with a model input on CheckpointLoaderSimple. */
    const generational = () => {
      const state = { generation: 1, files: ['a.safetensors'] };
      const { transport, calls } = stubTransport(async (classType) => OBJECT_INFO[classType] ?? { [classType]: { input: { required: {} } } });
      Object.assign(transport, {
        capabilityGeneration: () => state.generation,
        modelFiles: (classType: string, input: string) => (classType === 'CheckpointLoaderSimple' && input === 'ckpt_name' ? state.files : undefined),
      });
      return { transport, calls, state };
    };
    const withModelInput = async () =>
      writeFile(
        join(dir, 'wf.json'),
        JSON.stringify({ ...graph, '4': { ...graph['4'], _meta: { title: 'Load Checkpoint', apiinput: 'ckpt_name' } } }),
      );
    const ckptOptions = (bytes: Buffer | undefined) => (JSON.parse(bytes!.toString('utf8')) as Record<string, { options?: string[] }>)['4/ckpt_name']?.options;

    it('keeps the encoded answer while the generation stays, without asking the backend; describes again once it moves', async () => {
      await withModelInput();
      const { transport, calls, state } = generational();
      const registry = await registryWith(transport);
      expect(registry.describedBytes('wf')).to.equal(undefined);
      const first = await registry.describeBytes('wf');
      expect(ckptOptions(first)).to.deep.equal(['a.safetensors']);
      const asked = calls.length;
      // Much later by the clock (past the time bound a transport without a generation gets): still the same bytes.
      const realNow = Date.now;
      Date.now = () => realNow() + 60_000;
      try {
        expect(registry.describedBytes('wf')).to.equal(first);
      } finally {
        Date.now = realNow;
      }
      expect(calls).to.have.length(asked);

      // The backends gain a model: the transport's generation moves, and the kept answer no longer holds.
      state.files = ['a.safetensors', 'b.safetensors'];
      state.generation += 1;
      expect(registry.describedBytes('wf')).to.equal(undefined);
      expect(ckptOptions(await registry.describeBytes('wf'))).to.deep.equal(['a.safetensors', 'b.safetensors']);
      expect(ckptOptions(registry.describedBytes('wf'))).to.deep.equal(['a.safetensors', 'b.safetensors']);
      expect((await registry.describe('wf'))?.['4/ckpt_name']?.options).to.deep.equal(['a.safetensors', 'b.safetensors']);
    });

    it('does not keep an answer described across a reload for the new workflow set', async () => {
      const { transport } = generational();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const slow = { ...transport, objectInfo: async (classType: string) => (await held, OBJECT_INFO[classType]) } as Transport;
      const racing = new FileWorkflowRegistry({ dir, log: silent, transport: () => slow, objectInfoTimeoutMs: 5000 });
      await racing.reload();
      const describing = racing.describeBytes('wf');
      // The file changes (the designated seed now defaults to 2) and is reloaded while the old one is described.
      await writeFile(join(dir, 'wf.json'), JSON.stringify({ ...graph, '3': { ...graph['3'], inputs: { ...graph['3'].inputs, seed: 2 } } }));
      await racing.reload();
      release();
      const old = JSON.parse((await describing)!.toString('utf8')) as Record<string, { default: unknown }>;
      expect(old['3/seed']?.default).to.equal(1);
      const now = JSON.parse((await racing.describeBytes('wf'))!.toString('utf8')) as Record<string, { default: unknown }>;
      expect(now['3/seed']?.default).to.equal(2);
    });

    it('keeps an answer without a transport until a transport appears', async () => {
      const seen: { transport?: Transport } = {};
      const registry = new FileWorkflowRegistry({ dir, log: silent, transport: () => seen.transport });
      await registry.reload();
      const alone = await registry.describeBytes('wf');
      expect(registry.describedBytes('wf')).to.equal(alone);
      seen.transport = generational().transport;
      expect(registry.describedBytes('wf')).to.equal(undefined);
      const enriched = JSON.parse((await registry.describeBytes('wf'))!.toString('utf8')) as Record<string, { multiline?: boolean }>;
      expect(enriched['6/text']?.multiline).to.equal(true);
    });
  });
});
