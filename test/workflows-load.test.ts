import { expect } from 'chai';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FileWorkflowRegistry } from '../plugins/workflows/registry.js';

/** A LoadImage → ImageInvert → SaveImage graph in API format, as "Save (API)" writes it. */
const invertGraph = (apiinput?: string) => ({
  '10': { inputs: { image: 'example.png' }, class_type: 'LoadImage', _meta: { title: 'Load Image', ...(apiinput ? { apiinput } : {}) } },
  '11': { inputs: { image: ['10', 0] }, class_type: 'ImageInvert', _meta: { title: 'Invert Image' } },
  '12': { inputs: { filename_prefix: 'inv', images: ['11', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
});

const samplerGraph = () => ({
  '3': {
    inputs: { seed: 42, steps: 20, cfg: 8, denoise: 1, sampler_name: 'euler', model: ['4', 0] },
    class_type: 'KSampler',
    _meta: { title: 'KSampler', apiinput: 'seed, steps ,cfg' },
  },
  '4': { inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' }, class_type: 'CheckpointLoaderSimple', _meta: { title: 'Load Checkpoint' } },
  '6': { inputs: { text: 'a fox', clip: ['4', 1] }, class_type: 'CLIPTextEncode', _meta: { title: 'Positive', apiinput: 'text' } },
  '8': { inputs: { tiled: false }, class_type: 'NoMetaNode' },
});

describe('workflows: loading a folder', () => {
  let dir: string;
  let logLines: { level: number; msg: string; file?: string }[];
  let registry: FileWorkflowRegistry;

  const put = async (name: string, content: unknown) => {
    const path = join(dir, name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  };
  const load = async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as never);
        done();
      },
    });
    registry = new FileWorkflowRegistry({ dir, log: pino({ level: 'debug' }, sink) });
    await registry.reload();
    return registry;
  };
  const errorFor = (file: string) => registry.errors().find((e) => e.file === file);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-workflows-'));
    logLines = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('designated inputs', () => {
    it('a graph alone with _meta.apiinput is a complete workflow named after its file', async () => {
      await put('invert.json', invertGraph('image'));
      await load();
      expect(registry.errors()).to.deep.equal([]);
      const workflow = registry.get('invert');
      expect(workflow).to.not.equal(undefined);
      expect(workflow?.description).to.equal('');
      expect(workflow?.thumbnail).to.equal(null);
      expect(workflow?.file).to.equal(join(dir, 'invert.json'));
      expect(workflow?.inputs).to.deep.equal({
        '10/image': { type: 'str', title: 'Load Image', class: 'LoadImage', default: 'example.png', kind: 'image' },
      });
      expect(registry.list().map((w) => w.alias)).to.deep.equal(['invert']);
    });

    it('reads comma-separated apiinput lists, types each default, and falls back to class_type for the title', async () => {
      // Node 8 has an apiinput but no title: the class_type stands in.
      await put('t2i.json', { ...samplerGraph(), '8': { inputs: { tiled: false }, class_type: 'NoMetaNode', _meta: { apiinput: 'tiled' } } });
      await load();
      expect(registry.errors()).to.deep.equal([]);
      expect(registry.get('t2i')?.inputs).to.deep.equal({
        '3/seed': { type: 'int', title: 'KSampler', class: 'KSampler', default: 42 },
        '3/steps': { type: 'int', title: 'KSampler', class: 'KSampler', default: 20 },
        '3/cfg': { type: 'int', title: 'KSampler', class: 'KSampler', default: 8 },
        '6/text': { type: 'str', title: 'Positive', class: 'CLIPTextEncode', default: 'a fox' },
        '8/tiled': { type: 'bool', title: 'NoMetaNode', class: 'NoMetaNode', default: false },
      });
    });

    it('a manifest alone designates inputs and adds alias, description, thumbnail and metadata', async () => {
      await put('resize.json', invertGraph());
      await put(
        'resize.workflow.yaml',
        [
          'alias: flip-colors',
          'description: Inverts colours.',
          'thumbnail: https://example.com/thumb.png',
          'inputs:',
          '  10/image:',
          '    title: Picture',
          '    description: An uploaded image',
          '  12/filename_prefix:',
          '    options: [inv, other]',
          '    multiline: false',
        ].join('\n'),
      );
      await load();
      expect(registry.errors()).to.deep.equal([]);
      expect(registry.get('resize')).to.equal(undefined);
      const workflow = registry.get('flip-colors');
      expect(workflow?.description).to.equal('Inverts colours.');
      expect(workflow?.thumbnail).to.equal('https://example.com/thumb.png');
      expect(workflow?.inputs).to.deep.equal({
        '10/image': { type: 'str', title: 'Picture', class: 'LoadImage', default: 'example.png', description: 'An uploaded image', kind: 'image' },
        '12/filename_prefix': { type: 'str', title: 'Save Image', class: 'SaveImage', default: 'inv', options: ['inv', 'other'], multiline: false },
      });
    });

    it('merges apiinput with a JSON manifest: the manifest adds inputs and its metadata wins', async () => {
      await put('t2i.json', samplerGraph());
      await put(
        't2i.workflow.json',
        { description: 'SD', inputs: { '3/cfg': { type: 'float', title: 'CFG', min: 0, max: 30, step: 0.5 }, '3/denoise': null } },
      );
      await load();
      expect(registry.errors()).to.deep.equal([]);
      const inputs = registry.get('t2i')?.inputs ?? {};
      expect(Object.keys(inputs)).to.deep.equal(['3/seed', '3/steps', '3/cfg', '6/text', '3/denoise']);
      expect(inputs['3/cfg']).to.deep.equal({ type: 'float', title: 'CFG', class: 'KSampler', default: 8, min: 0, max: 30, step: 0.5 });
      expect(inputs['3/denoise']).to.deep.equal({ type: 'int', title: 'KSampler', class: 'KSampler', default: 1 });
      expect(registry.get('t2i')?.description).to.equal('SD');
    });

    it('accepts an empty manifest and a graph with no designated inputs', async () => {
      await put('plain.json', invertGraph());
      await put('plain.workflow.yaml', '');
      await load();
      expect(registry.errors()).to.deep.equal([]);
      expect(registry.get('plain')?.inputs).to.deep.equal({});
    });

    it('lists a shipped asset named by an image default, and manifest files, as shipped files with their paths', async () => {
      await put('assets/example.png', 'png bytes');
      await put('assets/style.png', 'png bytes');
      await put('invert.json', invertGraph('image'));
      await put('invert.workflow.yaml', 'files: [style.png]\n');
      const graph = invertGraph('image');
      graph['10'].inputs.image = 'only-on-comfyui.png';
      await put('other.json', graph);
      await load();
      expect(registry.errors()).to.deep.equal([]);
      expect(registry.get('invert')?.shippedFiles).to.have.members(['example.png', 'style.png']);
      expect(registry.get('invert')?.shippedFilePaths).to.deep.equal({
        'style.png': join(dir, 'assets', 'style.png'),
        'example.png': join(dir, 'assets', 'example.png'),
      });
      // A default that is not shipped may already be in ComfyUI's input folder: loaded, nothing shipped.
      expect(registry.get('other')?.shippedFiles).to.deep.equal([]);
    });
  });

  describe('bad files are reported naming the file, skipped, and the others still load', () => {
    const cases: { name: string; files: Record<string, unknown>; file: string; reason: RegExp }[] = [
      { name: 'not JSON', files: { 'broken.json': '{"10": {' }, file: 'broken.json', reason: /not valid JSON/ },
      {
        name: 'UI format',
        files: { 'ui.json': { last_node_id: 9, nodes: [{ id: 3, type: 'KSampler' }], links: [[1, 4, 0, 3, 0, 'MODEL']], version: 0.4 } },
        file: 'ui.json',
        reason: /UI format.*Save \(API\)/,
      },
      { name: 'a JSON array', files: { 'list.json': [1, 2] }, file: 'list.json', reason: /not an API-format workflow/ },
      { name: 'an empty graph', files: { 'empty.json': {} }, file: 'empty.json', reason: /no nodes/ },
      { name: 'a node without class_type', files: { 'node.json': { '1': { inputs: {} } } }, file: 'node.json', reason: /node "1" is not an API-format node/ },
      {
        name: 'a /prompt body instead of the graph',
        files: { 'body.json': { prompt: invertGraph(), client_id: 'x' } },
        file: 'body.json',
        reason: /\/prompt request body/,
      },
      {
        name: 'apiinput naming an input the node lacks',
        files: { 'missing.json': invertGraph('image, strength') },
        file: 'missing.json',
        reason: /"10\/strength": node "10" \(LoadImage\) has no input "strength"/,
      },
      {
        name: 'apiinput of the wrong type',
        files: { 'apitype.json': { '1': { inputs: { a: 1 }, class_type: 'X', _meta: { apiinput: 5 } } } },
        file: 'apitype.json',
        reason: /_meta.apiinput/,
      },
      {
        name: 'a designated input that is a link',
        files: { 'linked.json': { ...invertGraph(), '11': { ...invertGraph()['11'], _meta: { title: 'Invert', apiinput: 'image' } } } },
        file: 'linked.json',
        reason: /"11\/image" is linked to the output of node "10"/,
      },
      {
        name: 'a manifest naming an unknown node',
        files: { 'm.json': invertGraph(), 'm.workflow.yaml': 'inputs:\n  99/image: null\n' },
        file: 'm.workflow.yaml',
        reason: /the graph has no node "99"/,
      },
      {
        name: 'a manifest with an unknown key',
        files: { 'k.json': invertGraph(), 'k.workflow.yaml': 'descripton: typo\n' },
        file: 'k.workflow.yaml',
        reason: /bad manifest: .*must NOT have additional properties "descripton"/,
      },
      {
        name: 'a manifest with a wrongly typed field',
        files: { 'w.json': invertGraph(), 'w.workflow.yaml': 'inputs:\n  10/image:\n    min: low\n' },
        file: 'w.workflow.yaml',
        reason: /bad manifest: \/inputs\/10\/image/,
      },
      {
        name: 'a thumbnail that is neither a URL nor an absolute path',
        files: { 'th.json': invertGraph(), 'th.workflow.yaml': 'thumbnail: thumbs/th.png\n' },
        file: 'th.workflow.yaml',
        reason: /bad manifest: \/thumbnail must match pattern/,
      },
      {
        name: 'a manifest that is not YAML',
        files: { 'y.json': invertGraph(), 'y.workflow.yaml': 'inputs: [unclosed\n' },
        file: 'y.workflow.yaml',
        reason: /not valid YAML/,
      },
      {
        name: 'a manifest type that contradicts the default',
        files: { 't.json': invertGraph(), 't.workflow.yaml': 'inputs:\n  10/image:\n    type: int\n' },
        file: 't.workflow.yaml',
        reason: /type "int" does not match its default value \(str\)/,
      },
      {
        name: 'a default outside the manifest range',
        files: { 'r.json': samplerGraph(), 'r.workflow.yaml': 'inputs:\n  3/steps:\n    max: 10\n' },
        file: 'r.workflow.yaml',
        reason: /default 20 is above max 10/,
      },
      {
        name: 'a manifest listing a file that is not shipped',
        files: { 'f.json': invertGraph(), 'f.workflow.yaml': 'files: [nope.png]\n' },
        file: 'f.workflow.yaml',
        reason: /"nope.png", which is not in assets\//,
      },
      {
        name: 'a manifest without a graph',
        files: { 'orphan.workflow.yaml': 'description: lonely\n' },
        file: 'orphan.workflow.yaml',
        reason: /no orphan.json beside it/,
      },
      {
        name: 'two manifests for one graph',
        files: { 'two.json': invertGraph(), 'two.workflow.yaml': '', 'two.workflow.json': '{}' },
        file: 'two.json',
        reason: /several manifests/,
      },
      {
        name: 'a file name that is no alias',
        files: { 'bad name!.json': invertGraph('image') },
        file: 'bad name!.json',
        reason: /not a usable alias/,
      },
      {
        name: 'a duplicate alias',
        files: { 'a-dup.json': invertGraph(), 'a-dup.workflow.yaml': 'alias: good\n' },
        file: 'good.json',
        reason: /alias "good" is already used by a-dup.json/,
      },
    ];

    for (const { name, files, file, reason } of cases) {
      it(name, async () => {
        await put('good.json', invertGraph('image'));
        for (const [fileName, content] of Object.entries(files)) await put(fileName, content);
        await load();
        expect(registry.errors()).to.have.length(1);
        expect(errorFor(file)?.reason).to.match(reason);
        expect(registry.list().map((w) => w.alias)).to.include('good');
        const warn = logLines.find((line) => line.level === 40 && line.file === file);
        expect(warn?.msg).to.contain(file);
        if (process.env.SHOW_REASONS) console.log(`      ${file}: ${errorFor(file)?.reason}`);
      });
    }

    it('a missing folder is reported and leaves an empty registry', async () => {
      await rm(dir, { recursive: true });
      await load();
      expect(registry.list()).to.deep.equal([]);
      expect(registry.errors()[0]?.reason).to.match(/cannot read the workflows folder \(ENOENT\)/);
    });

    it('ignores hidden files and files that are not .json', async () => {
      await put('good.json', invertGraph('image'));
      await put('.good.json.swp', 'garbage');
      await put('.editor-tmp.json', 'garbage');
      await put('README.md', '# notes');
      await load();
      expect(registry.errors()).to.deep.equal([]);
      expect(registry.list().map((w) => w.alias)).to.deep.equal(['good']);
    });
  });

  describe('reload', () => {
    it('swaps the whole set: added files appear, removed ones disappear, fixed ones stop erring', async () => {
      await put('one.json', invertGraph('image'));
      await put('broken.json', '{');
      await load();
      expect(registry.list().map((w) => w.alias)).to.deep.equal(['one']);
      expect(registry.errors()).to.have.length(1);

      await rm(join(dir, 'one.json'));
      await put('two.json', invertGraph('image'));
      await put('broken.json', invertGraph());
      let reloads = 0;
      registry.onReload(() => reloads++);
      await Promise.all([registry.reload(), registry.reload(), registry.reload()]);
      expect(reloads).to.be.within(1, 2);
      expect(registry.list().map((w) => w.alias)).to.deep.equal(['broken', 'two']);
      expect(registry.errors()).to.deep.equal([]);
    });
  });
});
