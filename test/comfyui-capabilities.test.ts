import { expect } from 'chai';
import type { Graph } from '../contracts/graph.js';
import { canRun, lacks, needsOf, parseCapabilities } from '../plugins/comfyui/capabilities.js';
import { operatorFault } from '../plugins/comfyui/operator-fault.js';

const INFO = {
  CheckpointLoaderSimple: { input: { required: { ckpt_name: [['a.safetensors', 'b.ckpt'], {}] } } },
  // ComfyUI's newer combo shape, and an empty model folder on a loader.
  LoraLoader: { input: { required: { lora_name: ['COMBO', { options: ['x.safetensors'] }], strength_model: ['FLOAT', {}] } } },
  VAELoader: { input: { required: { vae_name: [[], {}] } } },
  KSampler: { input: { required: { sampler_name: [['euler', 'ddim'], {}], seed: ['INT', {}] } } },
};

describe('comfyui capabilities from /object_info', () => {
  const caps = parseCapabilities(INFO, 0);

  it('finds model-file inputs in both combo shapes and an empty loader folder, but not plain enums', () => {
    expect([...caps.models.keys()].sort()).to.deep.equal(['CheckpointLoaderSimple.ckpt_name', 'LoraLoader.lora_name', 'VAELoader.vae_name']);
    expect([...caps.models.get('LoraLoader.lora_name')!]).to.deep.equal(['x.safetensors']);
    expect(caps.classes.has('KSampler')).to.equal(true);
  });

  it('says what a graph needs and what a backend lacks of it', () => {
    const modelInputs = new Map([['CheckpointLoaderSimple', new Set(['ckpt_name'])], ['LoraLoader', new Set(['lora_name'])]]);
    const graph = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'c.safetensors' } },
      '2': { class_type: 'LoraLoader', inputs: { lora_name: 'x.safetensors', model: ['1', 0] } },
      '3': { class_type: 'UpscaleMagic', inputs: { image: ['2', 0] } },
    } as unknown as Graph;
    const needs = needsOf(graph, modelInputs);
    expect(needs.classes).to.deep.equal(['CheckpointLoaderSimple', 'LoraLoader', 'UpscaleMagic']);
    expect(needs.modelKey).to.equal('c.safetensors\nx.safetensors');
    expect(canRun(caps, needs)).to.equal(false);
    expect(lacks(caps, needs)).to.deep.equal(['node class UpscaleMagic', 'model file c.safetensors (CheckpointLoaderSimple.ckpt_name)']);
  });

  it("classes ComfyUI's value_not_in_list on a model input as the operator's, and other refusals as not", () => {
    const modelInputs = new Map([['CheckpointLoaderSimple', new Set(['ckpt_name'])]]);
    const onModel = { '4': { class_type: 'CheckpointLoaderSimple', errors: [{ type: 'value_not_in_list', extra_info: { input_name: 'ckpt_name', received_value: 'c.safetensors' } }] } };
    const onEnum = { '3': { class_type: 'KSampler', errors: [{ type: 'value_not_in_list', extra_info: { input_name: 'sampler_name', received_value: 'nope' } }] } };
    expect(operatorFault(onModel, modelInputs)).to.deep.equal(['model file c.safetensors (CheckpointLoaderSimple.ckpt_name)']);
    expect(operatorFault(onEnum, modelInputs)).to.deep.equal([]);
  });
});
