/** upload → generate → follow → download with the SDK (docs/client.md; test/client-examples.test.ts runs it). */
import { ComfyBridgeClient } from '../../client/src/index.js';

export async function invertWithSdk(baseUrl: string, photo: Blob, onProgress: (percent: number) => void): Promise<Blob> {
  const bridge = new ComfyBridgeClient({ baseUrl });
  const { upload_0: image } = await bridge.upload([photo]);
  const generation = await bridge.generate('invert-image', { '10/image': image });
  for await (const frame of generation.frames()) if (frame.data?.percent !== undefined) onProgress(frame.data.percent);
  const { urls } = await generation.done();
  return bridge.results.download(urls[0]!);
}
