import { expect } from 'chai';
import { imageSize } from 'image-size';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { encodePng } from './fake-comfyui/png.js';
import { loadCapture, type CapturedFrame, type TimelineEvent } from './fake-comfyui/testing/capture.js';
import { collapse, frameType, replay, type ReceivedFrame, type ReplayResult } from './fake-comfyui/testing/replay.js';
import { keyOrderDiff, shapeDiff } from './fake-comfyui/testing/shape.js';

/**
 * Replays each captured exchange of the real ComfyUI 0.3.64 (test/fixtures/comfyui-protocol) against
 * the fake and compares websocket message types, order and JSON shapes per socket, and HTTP
 * statuses, content types and body shapes.
 */

interface CaseConfig {
  name: string;
  /** captures replayed first on the same fake (not compared), e.g. to warm the cache */
  prelude?: string[];
  durations?: Record<string, number>;
  /** durations set after the prelude */
  caseDurations?: Record<string, number>;
  /** HTTP labels whose body is not compared, with the reason */
  skipHttp?: Record<string, string>;
}

const LONG = { ImageScale: 250 };

const CASES: CaseConfig[] = [
  { name: 'ws_connect_handshake' },
  { name: 'ws_success_run' },
  { name: 'ws_cached_run', prelude: ['ws_success_run'] },
  { name: 'ws_partially_cached_run', prelude: ['ws_success_run'] },
  { name: 'ws_validation_error' },
  { name: 'ws_runtime_error' },
  { name: 'ws_runtime_error_corrupt_upload' },
  { name: 'ws_loadimage_invert_run' },
  { name: 'ws_partial_execution_targets' },
  { name: 'ws_binary_text_frame' },
  { name: 'ws_interrupted_run', durations: LONG },
  { name: 'ws_interrupted_run_targeted', durations: LONG },
  { name: 'ws_reconnect_during_run', durations: LONG },
  { name: 'ws_other_clients_and_no_client_id', durations: LONG },
  { name: 'ws_progress_testsleep', durations: { TestSleep: 60 } },
  { name: 'ws_progress_testsleep_interrupted', prelude: ['ws_progress_testsleep'], durations: { TestSleep: 60 }, caseDurations: { TestSleep: 400 } },
  { name: 'http_post_prompt_ok' },
  { name: 'http_post_prompt_validation_error' },
  { name: 'http_get_history_prompt_id', prelude: ['ws_success_run'] },
  { name: 'http_get_history_max_items', prelude: ['ws_success_run', 'ws_other_clients_and_no_client_id'], durations: LONG },
  { name: 'http_history', prelude: ['ws_connect_handshake', 'ws_success_run', 'ws_runtime_error', 'ws_other_clients_and_no_client_id'], durations: LONG },
  { name: 'http_queue_ops', durations: { ImageScale: 400 } },
  { name: 'http_interrupt' },
  { name: 'http_free', prelude: ['ws_success_run'] },
  { name: 'http_upload_image' },
  { name: 'http_view', prelude: ['ws_success_run', 'http_upload_image'], skipHttp: { preview_webp: 'the fake does not re-encode to webp' } },
  { name: 'http_object_info_ImageInvert' },
  { name: 'http_object_info_more' },
  { name: 'http_system_stats' },
  { name: 'http_features' },
  { name: 'http_misc' },
];

/** Upload bodies are not in the captures; these stand in (same bytes where the capture needs a duplicate). */
function uploadBytes(label: string | undefined, field: { filename?: string; content_type?: string }): Buffer {
  if (field.filename === 'not-really.png') return Buffer.from('this is not a png\n');
  if (field.content_type === 'image/gif') return Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
  const variant: Record<string, number> = {
    same_name_different_bytes_no_overwrite: 2,
    same_name_different_bytes_again: 3,
    'overwrite_false_string_same_bytes_as_(2)': 3,
    overwrite_1: 4,
  };
  const v = variant[label ?? ''] ?? 1;
  const rgb = Buffer.alloc(32 * 24 * 3);
  for (let i = 0; i < rgb.length; i += 3) rgb.set([(v * 40) & 0xff, (i / 3) % 256, 100], i);
  return encodePng(32, 24, rgb);
}

function expectedFrames(timeline: TimelineEvent[], label: string): CapturedFrame[] {
  return timeline.filter((e): e is TimelineEvent & { kind: 'ws_recv' } => e.kind === 'ws_recv' && e.client_id === label) as unknown as CapturedFrame[];
}

function compareSockets(name: string, timeline: TimelineEvent[], result: ReplayResult): void {
  const labels = new Set(timeline.filter((e) => e.kind === 'ws_open').map((e) => (e as { client_id: string }).client_id));
  for (const label of labels) {
    const expected = collapse(expectedFrames(timeline, label), frameType);
    const actual = collapse(result.frames.get(label) ?? [], frameType);
    expect(actual.map(frameType), `${name} ${label}: message types and order`).to.deep.equal(expected.map(frameType));
    expected.forEach((exp, i) => {
      const act = actual[i] as ReceivedFrame;
      if (exp.frame === 'binary') {
        expect(act.binary?.readUInt32BE(0), `${name} ${label}[${i}] binary event type`).to.equal(exp.binary.event_type_u32be);
        const nodeLen = act.binary?.readUInt32BE(4) ?? 0;
        expect(act.binary?.subarray(8, 8 + nodeLen).toString()).to.equal(exp.binary.decoded.node_id);
        expect(act.binary?.subarray(8 + nodeLen).toString()).to.equal(exp.binary.decoded.text);
        return;
      }
      const diff = [...shapeDiff(act.json, exp.json), ...keyOrderDiff(act.json, exp.json)];
      expect(diff, `${name} ${label}[${i}] ${exp.json.type} shape`).to.deep.equal([]);
      expect(act.raw, `${name} ${label}[${i}] uses Python separators`).to.not.match(/":[^ ]|",[^ ]/);
    });
  }
}

function compareHttp(config: CaseConfig, result: ReplayResult): void {
  for (const ex of result.http) {
    const what = `${config.name} ${ex.request.method} ${ex.request.path} ${ex.label ?? ''}`;
    expect(ex.status, `${what}: status`).to.equal(ex.expected.status);
    if (config.skipHttp?.[ex.label ?? '']) continue;
    const expectedType = ex.expected.headers['Content-Type'];
    if (expectedType) expect(ex.headers.get('content-type'), `${what}: content-type`).to.equal(expectedType);
    if (ex.expected.body_json !== undefined) {
      const actual = JSON.parse(ex.body.toString('utf8')) as unknown;
      expect(shapeDiff(actual, ex.expected.body_json), `${what}: body shape`).to.deep.equal([]);
      expect(ex.body.toString('utf8'), `${what}: Python separators`).to.not.match(/^[[{]"[^"]*":[^ ]/);
    } else if (ex.expected.body_image && ex.request.method === 'GET') {
      expect(ex.body.subarray(1, 4).toString(), `${what}: PNG bytes`).to.equal('PNG');
      const size = imageSize(ex.body);
      expect([size.width, size.height], `${what}: image size`).to.deep.equal(ex.expected.body_image.size);
    } else if (ex.expected.body_length === 0) {
      expect(ex.body.length, `${what}: empty body`).to.equal(0);
    } else if (ex.expected.body_raw !== undefined && !ex.expected.headers['Content-Type']?.startsWith('text/html')) {
      expect(ex.body.toString('utf8'), `${what}: body`).to.equal(ex.expected.body_raw);
    }
  }
}

describe('fake ComfyUI replays the captured ComfyUI 0.3.64 traffic', function () {
  this.timeout(15000);
  let fake: FakeComfy | undefined;

  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });

  for (const config of CASES) {
    it(config.name, async () => {
      fake = await startFakeComfy({ nodeDurationMs: 2 });
      const idMap = new Map<string, string>();
      for (const [cls, ms] of Object.entries(config.durations ?? {})) fake.setNodeDuration(cls, ms);
      for (const name of config.prelude ?? []) {
        await replay(fake, loadCapture(name), { idMap, uploadBytes });
        await fake.waitForIdle();
      }
      for (const [cls, ms] of Object.entries(config.caseDurations ?? {})) fake.setNodeDuration(cls, ms);
      const capture = loadCapture(config.name);
      const result = await replay(fake, capture, { idMap, uploadBytes });
      compareSockets(config.name, capture.timeline, result);
      compareHttp(config, result);
    });
  }
});
