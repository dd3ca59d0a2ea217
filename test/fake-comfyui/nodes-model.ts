import { createHash } from 'node:crypto';
import { flatImage } from './images.js';
import { PyFloat, type PyValue } from './py-json.js';
import { NodeExecutionError, type NodeDef } from './node-types.js';
import { pyTraceback } from './save-images.js';

/**
 * The txt2img chain (CheckpointLoaderSimple → CLIPTextEncode → EmptyLatentImage → KSampler →
 * VAEDecode). No model is loaded: KSampler reports one progress message per step and produces a
 * flat colour derived from seed + prompt text, so different inputs give different images.
 * object_info entries follow ComfyUI 0.3.64's nodes.py (not captured; written from the source).
 */

interface Latent {
  width: number;
  height: number;
  batch: number;
  color: [number, number, number];
}

interface Conditioning {
  text: string;
}

export const SAMPLERS = [
  'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral', 'lms',
  'dpm_fast', 'dpm_adaptive', 'dpmpp_2s_ancestral', 'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu', 'dpmpp_2m',
  'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu', 'dpmpp_3m_sde',
  'dpmpp_3m_sde_gpu', 'ddpm', 'lcm', 'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'res_multistep_cfg_pp', 'res_multistep_ancestral',
  'res_multistep_ancestral_cfg_pp', 'gradient_estimation', 'gradient_estimation_cfg_pp', 'er_sde', 'seeds_2', 'seeds_3',
  'sa_solver', 'sa_solver_pece', 'ddim', 'uni_pc', 'uni_pc_bh2',
];
export const SCHEDULERS = ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal'];

const v1 = (name: string, display: string, category: string, description: string, required: Record<string, PyValue>, output: string[], tooltips: string[]): Record<string, PyValue> => ({
  input: { required },
  input_order: { required: Object.keys(required) },
  output,
  output_is_list: output.map(() => false),
  output_name: output,
  name,
  display_name: display,
  description,
  python_module: 'nodes',
  category,
  output_node: false,
  output_tooltips: tooltips,
});

export const CheckpointLoaderSimple: NodeDef = {
  name: 'CheckpointLoaderSimple',
  outputNode: false,
  returnTypes: ['MODEL', 'CLIP', 'VAE'],
  info: (env) =>
    v1('CheckpointLoaderSimple', 'Load Checkpoint', 'loaders', 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
      { ckpt_name: [env.checkpoints, { tooltip: 'The name of the checkpoint (model) to load.' }] },
      ['MODEL', 'CLIP', 'VAE'],
      ['The model used for denoising latents.', 'The CLIP model used for encoding text prompts.', 'The VAE model used for encoding and decoding images to and from latent space.']),
  async run(inputs, ctx) {
    const name = String(inputs.ckpt_name);
    // Like a GPU: loading a checkpoint other than the one in memory takes time.
    if (ctx.model.loaded !== name) {
      if (ctx.model.loadMs > 0) await ctx.sleep(ctx.model.loadMs);
      ctx.model.loaded = name;
      ctx.model.loads += 1;
    }
    return { outputs: [{ model: name }, { clip: name }, { vae: name }] };
  },
};

export const CLIPTextEncode: NodeDef = {
  name: 'CLIPTextEncode',
  outputNode: false,
  returnTypes: ['CONDITIONING'],
  info: () =>
    v1('CLIPTextEncode', 'CLIP Text Encode (Prompt)', 'conditioning',
      'Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.',
      {
        text: ['STRING', { multiline: true, dynamicPrompts: true, tooltip: 'The text to be encoded.' }],
        clip: ['CLIP', { tooltip: 'The CLIP model used for encoding the text.' }],
      },
      ['CONDITIONING'], ['A conditioning containing the embedded text used to guide the diffusion model.']),
  async run(inputs) {
    const c: Conditioning = { text: String(inputs.text) };
    return { outputs: [c] };
  },
};

export const EmptyLatentImage: NodeDef = {
  name: 'EmptyLatentImage',
  outputNode: false,
  returnTypes: ['LATENT'],
  info: () =>
    v1('EmptyLatentImage', 'Empty Latent Image', 'latent', 'Create a new batch of empty latent images to be denoised via sampling.',
      {
        width: ['INT', { default: 512, min: 16, max: 16384, step: 8, tooltip: 'The width of the latent images in pixels.' }],
        height: ['INT', { default: 512, min: 16, max: 16384, step: 8, tooltip: 'The height of the latent images in pixels.' }],
        batch_size: ['INT', { default: 1, min: 1, max: 4096, tooltip: 'The number of latent images in the batch.' }],
      },
      ['LATENT'], ['The empty latent image batch.']),
  async run(inputs) {
    const latent: Latent = { width: Math.floor(Number(inputs.width) / 8), height: Math.floor(Number(inputs.height) / 8), batch: Number(inputs.batch_size), color: [0, 0, 0] };
    return { outputs: [latent] };
  },
};

export const KSampler: NodeDef = {
  name: 'KSampler',
  outputNode: false,
  returnTypes: ['LATENT'],
  reportsProgress: true,
  info: () =>
    v1('KSampler', 'KSampler', 'sampling', 'Uses the provided model, positive and negative conditioning to denoise the latent image.',
      {
        model: ['MODEL', { tooltip: 'The model used for denoising the input latent.' }],
        seed: ['INT', { default: 0, min: 0, max: 18446744073709551615n, control_after_generate: true, tooltip: 'The random seed used for creating the noise.' }],
        steps: ['INT', { default: 20, min: 1, max: 10000, tooltip: 'The number of steps used in the denoising process.' }],
        cfg: ['FLOAT', { default: new PyFloat(8), min: new PyFloat(0), max: new PyFloat(100), step: 0.1, round: 0.01, tooltip: 'The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality.' }],
        sampler_name: [SAMPLERS, { tooltip: 'The algorithm used when sampling, this can affect the quality, speed, and style of the generated output.' }],
        scheduler: [SCHEDULERS, { tooltip: 'The scheduler controls how noise is gradually removed to form the image.' }],
        positive: ['CONDITIONING', { tooltip: 'The conditioning describing the attributes you want to include in the image.' }],
        negative: ['CONDITIONING', { tooltip: 'The conditioning describing the attributes you want to exclude from the image.' }],
        latent_image: ['LATENT', { tooltip: 'The latent image to denoise.' }],
        denoise: ['FLOAT', { default: new PyFloat(1), min: new PyFloat(0), max: new PyFloat(1), step: 0.01, tooltip: 'The amount of denoising applied, lower values will maintain the structure of the initial latent allowing for image to image sampling.' }],
      },
      ['LATENT'], ['The denoised latent.']),
  async run(inputs, ctx) {
    const steps = Number(inputs.steps);
    for (let step = 1; step <= steps; step++) {
      await ctx.sleep(ctx.durationMs / steps);
      await ctx.progress(step, steps);
    }
    const latent = inputs.latent_image as Latent;
    const digest = createHash('sha256').update(`${String(inputs.seed)}|${(inputs.positive as Conditioning).text}`).digest();
    const out: Latent = { ...latent, color: [digest[0], digest[1], digest[2]] };
    return { outputs: [out] };
  },
};

export const VAEDecode: NodeDef = {
  name: 'VAEDecode',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: () =>
    v1('VAEDecode', 'VAE Decode', 'latent', 'Decodes latent images back into pixel space images.',
      {
        samples: ['LATENT', { tooltip: 'The latent to be decoded.' }],
        vae: ['VAE', { tooltip: 'The VAE model used for decoding the latent.' }],
      },
      ['IMAGE'], ['The decoded image.']),
  async run(inputs) {
    const latent = inputs.samples as Latent;
    if (!latent || typeof latent.width !== 'number') {
      throw new NodeExecutionError("'NoneType' object is not subscriptable", 'TypeError', pyTraceback([['nodes.py', 294, 'decode', 'images = vae.decode(samples["samples"])']]));
    }
    const img = flatImage(latent.width * 8, latent.height * 8, latent.color);
    return { outputs: [Array.from({ length: latent.batch }, () => img)] };
  },
};
