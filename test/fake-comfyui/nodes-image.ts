import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { imageSize } from 'image-size';
import { colorFromInt, flatImage, invertImage, scaleImage, type FakeImage } from './images.js';
import { decodePng, isPng } from './png.js';
import { parsePyJson, type PyValue } from './py-json.js';
import { NodeExecutionError, type NodeDef, type NodeEnv } from './node-types.js';
import { pyTraceback, saveImages } from './save-images.js';

/**
 * Image nodes. Their object_info entries are the ones captured from ComfyUI 0.3.64
 * (test/fixtures/comfyui-protocol/http_object_info_*.json), verbatim.
 */

const captured = (raw: string): (() => Record<string, PyValue>) => {
  return () => parsePyJson(raw) as Record<string, PyValue>;
};

const IMAGE_EXT = /\.(png|jpe?g|gif|webp|bmp|tiff?|avif|heic)$/i;

/** The files LoadImage lists: images directly in the input folder, sorted. */
export function listInputImages(env: NodeEnv): string[] {
  if (!existsSync(env.inputDir)) return [];
  return readdirSync(env.inputDir)
    .filter((f) => IMAGE_EXT.test(f) && statSync(path.join(env.inputDir, f)).isFile())
    .sort();
}

/** folder_paths.get_annotated_filepath for the input folder: "name [output]" etc. and subfolders. */
export function inputImagePath(name: string, env: NodeEnv): string {
  const m = /^(.*) \[(input|output|temp)\]$/.exec(name);
  const base = m ? m[1] : name;
  const dir = m?.[2] === 'output' ? env.outputDir : m?.[2] === 'temp' ? env.tempDir : env.inputDir;
  return path.join(dir, base);
}

function loadImage(file: string): { image: FakeImage; mask: { width: number; height: number } } {
  const bytes = readFileSync(file);
  if (isPng(bytes)) {
    try {
      const png = decodePng(bytes);
      const image: FakeImage = { width: png.width, height: png.height, color: [png.rgb[0], png.rgb[1], png.rgb[2]], pixels: png.rgb };
      return { image, mask: { width: png.width, height: png.height } };
    } catch {
      // fall through to size-only
    }
  }
  let size: { width?: number; height?: number } | undefined;
  try {
    size = imageSize(bytes);
  } catch {
    size = undefined;
  }
  if (!size?.width || !size.height) {
    throw new NodeExecutionError(`cannot identify image file '${file}'`, 'PIL.UnidentifiedImageError', pyTraceback([
      ['nodes.py', 1647, 'load_image', 'img = node_helpers.pillow(Image.open, image_path)'],
      ['node_helpers.py', 31, 'pillow', 'x = fn(arg)'],
      ['/usr/lib/python3/dist-packages/PIL/Image.py', 3283, 'open', 'raise UnidentifiedImageError(msg)'],
    ]));
  }
  // Formats the fake cannot decode keep their size and become mid-grey.
  return { image: flatImage(size.width, size.height, [128, 128, 128]), mask: { width: 64, height: 64 } };
}

export const EmptyImage: NodeDef = {
  name: 'EmptyImage',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: captured(
    '{"input": {"required": {"width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}], "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}], "color": ["INT", {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"}]}}, "input_order": {"required": ["width", "height", "batch_size", "color"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "EmptyImage", "display_name": "EmptyImage", "description": "", "python_module": "nodes", "category": "image", "output_node": false}',
  ),
  async run(inputs) {
    const n = Number(inputs.batch_size);
    const img = flatImage(Number(inputs.width), Number(inputs.height), colorFromInt(Number(inputs.color)));
    return { outputs: [Array.from({ length: n }, () => img)] };
  },
};

export const LoadImage: NodeDef = {
  name: 'LoadImage',
  outputNode: false,
  returnTypes: ['IMAGE', 'MASK'],
  info: (env) => ({
    input: { required: { image: [listInputImages(env), { image_upload: true }] } },
    input_order: { required: ['image'] },
    output: ['IMAGE', 'MASK'],
    output_is_list: [false, false],
    output_name: ['IMAGE', 'MASK'],
    name: 'LoadImage',
    display_name: 'Load Image',
    description: '',
    python_module: 'nodes',
    category: 'image',
    output_node: false,
  }),
  validate: {
    inputs: ['image'],
    check(inputs, env) {
      const name = String(inputs.image);
      const file = inputImagePath(name, env);
      return existsSync(file) && statSync(file).isFile() ? true : `Invalid image file: ${name}`;
    },
  },
  isChanged(inputs, env) {
    const file = inputImagePath(String(inputs.image), env);
    return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : '';
  },
  async run(inputs, ctx) {
    const { image, mask } = loadImage(inputImagePath(String(inputs.image), ctx));
    return { outputs: [[image], mask] };
  },
};

export const ImageInvert: NodeDef = {
  name: 'ImageInvert',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: captured(
    '{"input": {"required": {"image": ["IMAGE"]}}, "input_order": {"required": ["image"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "ImageInvert", "display_name": "Invert Image", "description": "", "python_module": "nodes", "category": "image", "output_node": false}',
  ),
  async run(inputs) {
    return { outputs: [(inputs.image as FakeImage[]).map(invertImage)] };
  },
};

export const ImageScale: NodeDef = {
  name: 'ImageScale',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: captured(
    '{"input": {"required": {"image": ["IMAGE"], "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]], "width": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}], "height": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}], "crop": [["disabled", "center"]]}}, "input_order": {"required": ["image", "upscale_method", "width", "height", "crop"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "ImageScale", "display_name": "Upscale Image", "description": "", "python_module": "nodes", "category": "image/upscaling", "output_node": false}',
  ),
  async run(inputs) {
    const images = inputs.image as FakeImage[];
    let w = Number(inputs.width);
    let h = Number(inputs.height);
    // 0 keeps the aspect ratio, as ComfyUI does
    const first = images[0];
    if (w === 0 && h === 0) [w, h] = [first.width, first.height];
    else if (w === 0) w = Math.max(1, Math.round((first.width * h) / first.height));
    else if (h === 0) h = Math.max(1, Math.round((first.height * w) / first.width));
    return { outputs: [images.map((img) => scaleImage(img, w, h))] };
  },
};

const SAVE_IMAGE_INFO =
  '{"input": {"required": {"images": ["IMAGE", {"tooltip": "The images to save."}], "filename_prefix": ["STRING", {"default": "ComfyUI", "tooltip": "The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."}]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}, "input_order": {"required": ["images", "filename_prefix"], "hidden": ["prompt", "extra_pnginfo"]}, "output": [], "output_is_list": [], "output_name": [], "name": "SaveImage", "display_name": "Save Image", "description": "Saves the input images to your ComfyUI output directory.", "python_module": "nodes", "category": "image", "output_node": true}';

export const SaveImage: NodeDef = {
  name: 'SaveImage',
  outputNode: true,
  returnTypes: [],
  info: captured(SAVE_IMAGE_INFO),
  async run(inputs, ctx) {
    const images = saveImages(inputs.images as FakeImage[], String(inputs.filename_prefix), ctx.outputDir, 'output', ctx.promptForMetadata, ctx.extraPnginfo);
    return { outputs: [], ui: { images } };
  },
};

const TEMP_LETTERS = 'abcdefghijklmnopqrstupvxyz'; // sic: ComfyUI's own alphabet

export const PreviewImage: NodeDef = {
  name: 'PreviewImage',
  outputNode: true,
  returnTypes: [],
  info: captured(
    '{"input": {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}, "input_order": {"required": ["images"], "hidden": ["prompt", "extra_pnginfo"]}, "output": [], "output_is_list": [], "output_name": [], "name": "PreviewImage", "display_name": "Preview Image", "description": "Saves the input images to your ComfyUI output directory.", "python_module": "nodes", "category": "image", "output_node": true}',
  ),
  async run(inputs, ctx) {
    let suffix = '';
    for (let i = 0; i < 5; i++) suffix += TEMP_LETTERS[Math.floor(Math.random() * TEMP_LETTERS.length)];
    const images = saveImages(inputs.images as FakeImage[], `ComfyUI_temp_${suffix}`, ctx.tempDir, 'temp', ctx.promptForMetadata, ctx.extraPnginfo);
    return { outputs: [], ui: { images } };
  },
};

export const GetImageSize: NodeDef = {
  name: 'GetImageSize',
  outputNode: false,
  returnTypes: ['INT', 'INT', 'INT'],
  info: captured(
    '{"input": {"required": {"image": ["IMAGE"]}, "hidden": {"unique_id": "UNIQUE_ID"}}, "input_order": {"required": ["image"], "hidden": ["unique_id"]}, "output": ["INT", "INT", "INT"], "output_is_list": [false, false, false], "output_name": ["width", "height", "batch_size"], "name": "GetImageSize", "display_name": "Get Image Size", "description": "Returns width and height of the image, and passes it through unchanged.", "python_module": "comfy_extras.nodes_images", "category": "image", "output_node": false}',
  ),
  async run(inputs, ctx) {
    const images = inputs.image as FakeImage[];
    const { width, height } = images[0];
    ctx.progressText(`width: ${width}, height: ${height}\n batch size: ${images.length}`);
    return { outputs: [width, height, images.length] };
  },
};
