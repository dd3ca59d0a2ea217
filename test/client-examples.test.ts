import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { invertWithSdk } from '../docs/examples/sdk-flow.js';
import { invertWithFetch } from '../docs/examples/raw-fetch-flow.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { until } from './helpers/until.js';

const WORKFLOWS = fileURLToPath(new URL('../workflows/', import.meta.url));

/** docs/client.md's two examples (the SDK and raw fetch) against the shipped invert-image workflow. */
describe('client SDK: the docs examples run', function () {
  this.timeout(20_000);
  let fake: FakeComfy;
  let bridge: RunningBridge;

  before(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 20 });
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: { backends: [{ url: fake.url, name: 'fake' }] },
        workflows: { dir: WORKFLOWS, watch: false },
        upload: {},
        generations: {},
        generate: {},
        ws: {},
        results: {},
        'execution-info': {},
      },
    });
    await until(() => fake.clientCount > 0, 'the backend to connect', 10_000);
  });
  after(async () => {
    await bridge?.close();
    await fake?.stop();
  });

  for (const [name, flow] of [
    ['SDK', invertWithSdk],
    ['raw fetch', invertWithFetch],
  ] as const) {
    it(`${name}: upload → generate → follow → download gives the inverted image and reports progress up to 100`, async () => {
      const percents: number[] = [];
      const photo = new Blob([encodePng(2, 2, Buffer.alloc(12, 0x30))], { type: 'image/png' });
      const result = decodePng(Buffer.from(await (await flow(bridge.url, photo, (percent) => percents.push(percent))).arrayBuffer()));
      expect([result.width, result.height, ...result.rgb.subarray(0, 3)]).to.deep.equal([2, 2, 0xcf, 0xcf, 0xcf]);
      expect(percents.at(-1)).to.equal(100);
    });
  }
});
