import { flatImage, rgbBytes, type FakeImage } from './images.js';
import { parsePyJson, type PyValue } from './py-json.js';
import type { NodeDef } from './node-types.js';

/**
 * The other captured classes: ImageStitch (V1) and two V3 io.ComfyNode classes whose object_info
 * carries output_tooltips/deprecated/experimental/api_node. Their runs are simplified: sizes are
 * right, pixels are approximate.
 */

const captured = (raw: string): (() => Record<string, PyValue>) => () => parsePyJson(raw) as Record<string, PyValue>;

function stitch(a: FakeImage, b: FakeImage, direction: string, spacing: number): FakeImage {
  const horizontal = direction === 'right' || direction === 'left';
  const width = horizontal ? a.width + b.width + spacing : Math.max(a.width, b.width);
  const height = horizontal ? Math.max(a.height, b.height) : a.height + b.height + spacing;
  const [first, second] = direction === 'right' || direction === 'down' ? [a, b] : [b, a];
  const out = Buffer.alloc(width * height * 3, 255);
  const blit = (img: FakeImage, ox: number, oy: number): void => {
    const src = rgbBytes(img);
    for (let y = 0; y < img.height; y++) src.copy(out, ((oy + y) * width + ox) * 3, y * img.width * 3, (y + 1) * img.width * 3);
  };
  blit(first, 0, 0);
  blit(second, horizontal ? first.width + spacing : 0, horizontal ? 0 : first.height + spacing);
  return { width, height, color: a.color, pixels: out };
}

export const ImageStitch: NodeDef = {
  name: 'ImageStitch',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: captured(
    '{"input": {"required": {"image1": ["IMAGE"], "direction": [["right", "down", "left", "up"], {"default": "right"}], "match_image_size": ["BOOLEAN", {"default": true}], "spacing_width": ["INT", {"default": 0, "min": 0, "max": 1024, "step": 2}], "spacing_color": [["white", "black", "red", "green", "blue"], {"default": "white"}]}, "optional": {"image2": ["IMAGE"]}}, "input_order": {"required": ["image1", "direction", "match_image_size", "spacing_width", "spacing_color"], "optional": ["image2"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "ImageStitch", "display_name": "Image Stitch", "description": "\\nStitches image2 to image1 in the specified direction.\\nIf image2 is not provided, returns image1 unchanged.\\nOptional spacing can be added between images.\\n", "python_module": "comfy_extras.nodes_images", "category": "image/transform", "output_node": false}',
  ),
  async run(inputs) {
    const one = inputs.image1 as FakeImage[];
    const two = inputs.image2 as FakeImage[] | null | undefined;
    if (!two) return { outputs: [one] };
    return { outputs: [one.map((img, i) => stitch(img, two[Math.min(i, two.length - 1)], String(inputs.direction), Number(inputs.spacing_width)))] };
  },
};

export const JoinImageWithAlpha: NodeDef = {
  name: 'JoinImageWithAlpha',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: captured(
    '{"input": {"required": {"image": ["IMAGE", {}], "alpha": ["MASK", {}]}}, "input_order": {"required": ["image", "alpha"]}, "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "output_tooltips": [null], "name": "JoinImageWithAlpha", "display_name": "Join Image with Alpha", "description": "", "python_module": "comfy_extras.nodes_compositing", "category": "mask/compositing", "output_node": false, "deprecated": false, "experimental": false, "api_node": false}',
  ),
  async run(inputs) {
    return { outputs: [inputs.image] };
  },
};

export const PorterDuffImageComposite: NodeDef = {
  name: 'PorterDuffImageComposite',
  outputNode: false,
  returnTypes: ['IMAGE', 'MASK'],
  info: captured(
    '{"input": {"required": {"source": ["IMAGE", {}], "source_alpha": ["MASK", {}], "destination": ["IMAGE", {}], "destination_alpha": ["MASK", {}], "mode": ["COMBO", {"default": "DST", "multiselect": false, "options": ["ADD", "CLEAR", "DARKEN", "DST", "DST_ATOP", "DST_IN", "DST_OUT", "DST_OVER", "LIGHTEN", "MULTIPLY", "OVERLAY", "SCREEN", "SRC", "SRC_ATOP", "SRC_IN", "SRC_OUT", "SRC_OVER", "XOR"]}]}}, "input_order": {"required": ["source", "source_alpha", "destination", "destination_alpha", "mode"]}, "output": ["IMAGE", "MASK"], "output_is_list": [false, false], "output_name": ["IMAGE", "MASK"], "output_tooltips": [null, null], "name": "PorterDuffImageComposite", "display_name": "Porter-Duff Image Composite", "description": "", "python_module": "comfy_extras.nodes_compositing", "category": "mask/compositing", "output_node": false, "deprecated": false, "experimental": false, "api_node": false}',
  ),
  async run(inputs) {
    const src = inputs.source as FakeImage[];
    const dst = inputs.destination as FakeImage[];
    const mode = String(inputs.mode);
    const pick = mode.startsWith('SRC') ? src : mode === 'CLEAR' ? dst.map((d) => flatImage(d.width, d.height, [0, 0, 0])) : dst;
    return { outputs: [pick, inputs.destination_alpha] };
  },
};
