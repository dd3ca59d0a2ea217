import type { Graph } from '../../contracts/graph.js';

/**
 * The shipped text-to-image shape on the fake ComfyUI's classes, loading `ckpt`: a workflow that needs one
 * model file, for the tests of which backends can run it. Its checkpoint is a designated input when `designated`.
 */
export function checkpointGraph(ckpt: string, designated = false): Graph {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt }, ...(designated ? { _meta: { title: 'Model', apiinput: 'ckpt_name' } } : {}) },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: { seed: 1, steps: 2, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'caps', images: ['8', 0] } },
  } as unknown as Graph;
}
