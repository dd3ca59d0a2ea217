import type { NodeDef } from './node-types.js';
import { EmptyImage, GetImageSize, ImageInvert, ImageScale, LoadImage, PreviewImage, SaveImage } from './nodes-image.js';
import { CLIPTextEncode, CheckpointLoaderSimple, EmptyLatentImage, KSampler, VAEDecode } from './nodes-model.js';
import { FailingNode, TestSleep } from './nodes-test.js';
import { ImageStitch, JoinImageWithAlpha, PorterDuffImageComposite } from './nodes-compositing.js';

/** NODE_CLASS_MAPPINGS of the fake, in /object_info order. */
export const NODE_CLASSES: ReadonlyMap<string, NodeDef> = new Map(
  [KSampler, CheckpointLoaderSimple, CLIPTextEncode, VAEDecode, EmptyLatentImage, SaveImage, PreviewImage, LoadImage, ImageScale, ImageInvert, EmptyImage, GetImageSize, ImageStitch, JoinImageWithAlpha, PorterDuffImageComposite, TestSleep, FailingNode].map(
    (n) => [n.name, n] as const,
  ),
);
