import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operatorFault } from '../plugins/comfyui/operator-fault.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { captureLogs, type LogLine } from './helpers/log-lines.js';
import { until } from './helpers/until.js';

const FIXTURE = new URL('./fixtures/comfyui-protocol/http_post_prompt_validation_error.json', import.meta.url);

/** ComfyUI 0.3.64's recorded answer to POST /prompt for the case `label`. */
async function recordedRefusal(label: string): Promise<Record<string, unknown>> {
  const capture = JSON.parse(await readFile(FIXTURE, 'utf8')) as { timeline: { kind: string; request: { label?: string }; response: { body_json: Record<string, unknown> } }[] };
  const entry = capture.timeline.find((e) => e.kind === 'http' && e.request.label === label);
  if (!entry) throw new Error(`no ${label} in the fixture`);
  return entry.response.body_json;
}

describe("ComfyUI's refusal of a node class it lacks", function () {
  this.timeout(30_000);

  it("is the operator's in the recorded 0.3.64 answer and in the newer missing_node_type shape; a node without class_type is not", async () => {
    const unknown = await recordedRefusal('unknown_class_type');
    expect(operatorFault({}, new Map(), unknown)).to.deep.equal(['node class NoSuchNode']);
    const newer = {
      error: { type: 'missing_node_type', message: "Node 'Upscaler' not found. The custom node may not be installed.", details: "Node ID '#1'", extra_info: { node_id: '1', class_type: 'UltimateSDUpscale', node_title: 'Upscaler' } },
      node_errors: {},
    };
    expect(operatorFault({}, new Map(), newer)).to.deep.equal(['node class UltimateSDUpscale']);
    expect(operatorFault({}, new Map(), await recordedRefusal('missing_class_type'))).to.deep.equal([]);
    expect(operatorFault({}, new Map(), await recordedRefusal('prompt_no_outputs'))).to.deep.equal([]);
  });

  describe('through the bridge', () => {
    let fake: FakeComfy;
    let bridge: RunningBridge;
    let dir: string;
    let lines: LogLine[];

    beforeEach(async () => {
      fake = await startFakeComfy();
      dir = await mkdtemp(join(tmpdir(), 'missing-class-'));
      const invert = {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'inv', images: ['2', 0] } },
      };
      await writeFile(join(dir, 'invert.json'), JSON.stringify(invert));
      // Needs a class no backend has: listed unavailable once the capabilities are known.
      await writeFile(join(dir, 'exotic.json'), JSON.stringify({ ...invert, '2': { class_type: 'NoSuchNode', inputs: { image: ['1', 0] } } }));
      const logs = captureLogs('warn');
      lines = logs.lines;
      bridge = await startBridge({
        log: logs.log,
        plugins: {
          'storage-nedb': { inMemory: true },
          bus: {},
          // The bridge does not read /object_info again, so it still believes the backend has ImageInvert when it goes.
          comfyui: { backends: [{ url: fake.url, name: 'solo' }], capabilitiesRefreshMs: 600_000, capabilitiesMinGapMs: 600_000 },
          workflows: { dir, watch: false },
          generations: {},
          results: {},
          generate: {},
          history: {},
          util: {},
        },
      });
      await until(async () => {
        const list = (await (await fetch(`${bridge.url}/workflow-list`)).json()) as { alias: string; available?: boolean }[];
        return list.find((w) => w.alias === 'exotic')?.available === false;
      }, 'the capabilities to be learnt');
    });

    afterEach(async () => {
      await bridge.close();
      await fake.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('answers 503 workflow_unavailable naming the class and the backend, warns, and records the generation failed with that reason', async () => {
      fake.hideNodeClasses(['ImageInvert']);
      const res = await fetch(`${bridge.url}/generate-based-workflow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: 'invert', clientId: 'c1' }) });
      const body = (await res.json()) as { error: string; detail: string; missing?: Record<string, string[]> };
      expect(res.status, JSON.stringify(body)).to.equal(503);
      expect(body.error).to.equal('workflow_unavailable');
      expect(body.detail).to.contain('solo').and.to.contain('node class ImageInvert');
      expect(res.headers.get('retry-after')).to.equal('5');
      // ComfyUI itself refused it (the bridge's own pre-check still believed the class was there).
      expect(fake.prompts.map((p) => p.accepted)).to.deep.equal([false]);
      const warn = lines.find((line) => line.level === 40 && line.backend === 'solo' && String(line.msg).includes('refused the graph'));
      expect(warn?.missing).to.deep.equal(['node class ImageInvert']);
      // Recorded like any refused submission (SPEC: /generation-count counts them), with the operator's reason.
      const history = (await (await fetch(`${bridge.url}/history`)).json()) as { history: { status: string; error_message?: string }[] };
      expect(history.history.map((h) => h.status)).to.deep.equal(['failed']);
      expect(history.history[0]?.error_message).to.contain('node class ImageInvert');
    });
  });
});
