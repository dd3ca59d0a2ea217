import { encodePng } from './png.js';

/**
 * The fake's image tensors. A flat colour is kept as one RGB triple (so an 8192x8192 ImageScale
 * costs nothing); real pixels (from LoadImage) are kept as RGB bytes.
 */
export interface FakeImage {
  width: number;
  height: number;
  color: [number, number, number];
  pixels: Buffer | null;
}

/** Pixel buffers above this size are averaged down to a flat colour instead of resampled. */
const MAX_PIXELS = 4_000_000;

export function flatImage(width: number, height: number, color: [number, number, number]): FakeImage {
  return { width, height, color, pixels: null };
}

export function colorFromInt(color: number): [number, number, number] {
  return [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff];
}

export function invertImage(img: FakeImage): FakeImage {
  const color: [number, number, number] = [255 - img.color[0], 255 - img.color[1], 255 - img.color[2]];
  if (!img.pixels) return { ...img, color };
  const pixels = Buffer.alloc(img.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = 255 - img.pixels[i];
  return { ...img, color, pixels };
}

function averageColor(img: FakeImage): [number, number, number] {
  if (!img.pixels) return img.color;
  const sum = [0, 0, 0];
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) sum[c] += img.pixels[i * 3 + c];
  return [Math.round(sum[0] / n), Math.round(sum[1] / n), Math.round(sum[2] / n)];
}

/** Nearest-neighbour resize (ComfyUI's filters differ; sizes and colours are what tests check). */
export function scaleImage(img: FakeImage, width: number, height: number): FakeImage {
  if (!img.pixels) return { ...img, width, height };
  if (width * height > MAX_PIXELS) return flatImage(width, height, averageColor(img));
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x * img.width) / width));
      img.pixels.copy(pixels, (y * width + x) * 3, (sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3);
    }
  }
  return { width, height, color: averageColor({ width, height, color: img.color, pixels }), pixels };
}

export function rgbBytes(img: FakeImage): Buffer {
  if (img.pixels) return img.pixels;
  const buf = Buffer.alloc(img.width * img.height * 3);
  const row = Buffer.alloc(img.width * 3);
  for (let x = 0; x < img.width; x++) row.set(img.color, x * 3);
  for (let y = 0; y < img.height; y++) row.copy(buf, y * row.length);
  return buf;
}

export function imageToPng(img: FakeImage, text: Record<string, string> = {}): Buffer {
  return encodePng(img.width, img.height, rgbBytes(img), text);
}

/** A Python-ish str() of an image batch for execution_error current_inputs (ComfyUI prints the tensor). */
export function tensorRepr(batch: FakeImage[]): string {
  const img = batch[0];
  if (!img) return 'tensor([])';
  const c = img.color.map((v) => `${(v / 255).toFixed(4).replace(/0+$/, '').replace(/\.$/, '.')}`).join(', ');
  return `tensor([[[[${c}],\n          ...,\n          [${c}]]]])`;
}
