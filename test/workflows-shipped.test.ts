import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { imageSize } from 'image-size';
import { pino } from 'pino';
import { FileWorkflowRegistry } from '../plugins/workflows/registry.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

const SHIPPED_DIR = resolve(import.meta.dirname, '..', 'workflows');

/** Node classes a stock ComfyUI has without custom nodes (and the project's fake ComfyUI knows). */
const STOCK_CLASSES = ['LoadImage', 'ImageInvert', 'ImageScale', 'SaveImage', 'CheckpointLoaderSimple', 'CLIPTextEncode', 'EmptyLatentImage', 'KSampler', 'VAEDecode'];

describe('workflows: the ones shipped in workflows/', () => {
  let registry: FileWorkflowRegistry;

  before(async () => {
    registry = new FileWorkflowRegistry({ dir: SHIPPED_DIR, log: pino({ level: 'silent' }) });
    await registry.reload();
  });

  it('all load without errors', () => {
    expect(registry.errors()).to.deep.equal([]);
    expect(registry.list().map((w) => w.alias)).to.deep.equal(['invert-image', 'resize-image', 'text-to-image']);
  });

  it('use only stock node classes, wired by links to nodes that exist', () => {
    for (const workflow of registry.list()) {
      for (const [id, node] of Object.entries(workflow.graph)) {
        expect(STOCK_CLASSES, `${workflow.alias} node ${id}`).to.include(node.class_type);
        for (const value of Object.values(node.inputs)) {
          if (Array.isArray(value)) expect(workflow.graph, `${workflow.alias} node ${id} links to ${String(value[0])}`).to.have.property(String(value[0]));
        }
      }
    }
  });

  it('invert-image designates the LoadImage image as 10/image (apiinput), its manifest adding words', () => {
    const workflow = registry.get('invert-image')!;
    expect(workflow.description).to.match(/^Inverts the colours/);
    expect(workflow.inputs).to.deep.equal({
      '10/image': {
        type: 'str',
        title: 'Image',
        class: 'LoadImage',
        default: 'example.png',
        kind: 'image',
        description: 'The stored name of an uploaded image (POST /upload with the same clientId).',
      },
    });
    expect(workflow.shippedFiles).to.deep.equal(['example.png']);
    expect(workflow.shippedFilePaths).to.deep.equal({ 'example.png': resolve(SHIPPED_DIR, 'assets', 'example.png') });
  });

  it('resize-image designates the image, width, height and method through its manifest', () => {
    const workflow = registry.get('resize-image')!;
    expect(workflow.description).to.match(/Resizes an image/);
    expect(workflow.thumbnail).to.equal(null);
    expect(Object.keys(workflow.inputs)).to.deep.equal(['10/image', '11/width', '11/height', '11/upscale_method']);
    expect(workflow.inputs['11/width']).to.include({ type: 'int', class: 'ImageScale', default: 512, min: 0, max: 4096, step: 1 });
    expect(workflow.inputs['11/upscale_method']?.options).to.deep.equal(['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']);
    expect(workflow.inputs['10/image']?.kind).to.equal('image');
    expect(workflow.shippedFiles).to.deep.equal(['example.png']);
  });

  it('text-to-image is the standard SD 1.5 graph with prompt, negative, seed, steps, cfg, width and height designated', () => {
    const workflow = registry.get('text-to-image')!;
    expect(workflow.graph['4']?.inputs.ckpt_name).to.equal('v1-5-pruned-emaonly.safetensors');
    expect(Object.keys(workflow.inputs).sort()).to.deep.equal(['3/cfg', '3/seed', '3/steps', '5/height', '5/width', '6/text', '7/text']);
    expect(workflow.inputs['6/text']).to.deep.include({ type: 'str', class: 'CLIPTextEncode', title: 'Prompt', multiline: true });
    expect(workflow.inputs['7/text']).to.deep.include({ type: 'str', default: 'text, watermark', title: 'Negative prompt' });
    expect(workflow.inputs['3/cfg']).to.deep.include({ type: 'float', default: 8 });
    expect(workflow.inputs['3/seed']).to.deep.include({ type: 'int', class: 'KSampler' });
    expect(workflow.shippedFiles).to.deep.equal([]);
  });

  it('ships a small valid PNG as the example image', async () => {
    const bytes = await readFile(resolve(SHIPPED_DIR, 'assets', 'example.png'));
    expect(bytes.length).to.be.below(16 * 1024);
    expect(imageSize(bytes)).to.include({ type: 'png', width: 64, height: 64 });
  });

  describe('served by the bridge from the default folder', () => {
    let bridge: RunningBridge | undefined;
    after(async () => {
      await bridge?.close();
    });

    it('lists them at /workflow-list with dir left at its default', async () => {
      // The default dir is "workflows" relative to the working directory, which is the repository root here.
      expect(process.cwd()).to.equal(resolve(SHIPPED_DIR, '..'));
      bridge = await startBridge({ plugins: { workflows: { watch: false } } });
      const response = await fetch(`${bridge.url}/workflow-list`);
      const body = (await response.json()) as { alias: string; thumbnail: unknown }[];
      expect(body.map((w) => w.alias)).to.deep.equal(['invert-image', 'resize-image', 'text-to-image']);
      expect(body.every((w) => w.thumbnail === null)).to.equal(true);
    });
  });
});
