import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { crc32, decodePng, encodePng } from './fake-comfyui/png.js';
import { PyFloat, parsePyJson, pyDumps, pyFloatRepr } from './fake-comfyui/py-json.js';
import { CAPTURE_DIR, loadCapture } from './fake-comfyui/testing/capture.js';
import { connect, finished, getJson, postJson, saveGraph, type TestSocket } from './fake-comfyui/testing/client.js';

describe('fake ComfyUI', function () {
  this.timeout(10000);
  let fake: FakeComfy;
  const sockets: TestSocket[] = [];

  const open = async (clientId?: string): Promise<TestSocket> => {
    const s = await connect(fake, clientId);
    sockets.push(s);
    return s;
  };
  const submit = async (graph: Record<string, unknown>, clientId?: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const res = await postJson(fake, '/prompt', { prompt: graph, ...(clientId ? { client_id: clientId } : {}), ...extra });
    expect(res.status, JSON.stringify(res.json)).to.equal(200);
    return res.json.prompt_id as string;
  };
  const viewPng = async (image: { filename: string; subfolder: string; type: string }) => {
    const res = await fetch(`${fake.url}/view?filename=${encodeURIComponent(image.filename)}&subfolder=${encodeURIComponent(image.subfolder)}&type=${image.type}`);
    expect(res.status).to.equal(200);
    return decodePng(Buffer.from(await res.arrayBuffer()));
  };

  beforeEach(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 2 });
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.ws.terminate();
    await fake.stop();
  });

  describe('wire format', () => {
    it('writes every captured text frame and JSON body byte for byte like Python json.dumps', () => {
      let checked = 0;
      for (const file of readdirSync(CAPTURE_DIR).filter((f) => f.endsWith('.json'))) {
        const capture = loadCapture(file.replace(/\.json$/, ''));
        for (const e of capture.timeline) {
          const raw = e.kind === 'ws_recv' && e.frame === 'text' ? e.raw : e.kind === 'http' && e.response.body_json !== undefined ? e.response.body_raw : undefined;
          if (raw === undefined) continue;
          expect(pyDumps(parsePyJson(raw)), `${file}`).to.equal(raw);
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(500);
    });

    it('formats floats like Python repr and escapes non-ASCII', () => {
      expect([1, 0, 0.3, 2.38e-7, 1e16, 123456.5, -0.0001].map(pyFloatRepr)).to.deep.equal(['1.0', '0.0', '0.3', '2.38e-07', '1e+16', '123456.5', '-0.0001']);
      expect(pyDumps({ a: [new PyFloat(5), 5, 'é\n'] })).to.equal('{"a": [5.0, 5, "\\u00e9\\n"]}');
      expect(() => parsePyJson('{"a": 1,}')).to.throw(SyntaxError);
    });

    it('encodes PNGs with valid CRCs and decodes them back', () => {
      const sample = Buffer.from('IEND');
      expect(crc32(sample)).to.equal(zlibCrc32(sample));
      const rgb = Buffer.from(Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 7) % 256));
      const png = encodePng(4, 3, rgb, { prompt: '{}' });
      const decoded = decodePng(png);
      expect([decoded.width, decoded.height]).to.deep.equal([4, 3]);
      expect(decoded.rgb.equals(rgb)).to.equal(true);
      expect(decoded.text.prompt).to.equal('{}');
      expect(() => decodePng(Buffer.from('not a png'))).to.throw();
    });
  });

  describe('execution', () => {
    it('saves real PNG files of the requested size and colour, with counters per prefix', async () => {
      const s = await open('c');
      const id = await submit(saveGraph({ width: 20, height: 10, color: 0x123456, prefix: 'px', batch: 2 }), 'c');
      const done = await s.waitFor((m) => m.type === 'executed' && m.data.prompt_id === id);
      const images = (done.data.output as { images: { filename: string; subfolder: string; type: string }[] }).images;
      expect(images.map((i) => i.filename)).to.deep.equal(['px_00001_.png', 'px_00002_.png']);
      const png = await viewPng(images[0]);
      expect([png.width, png.height, ...png.rgb.subarray(0, 3)]).to.deep.equal([20, 10, 0x12, 0x34, 0x56]);
      expect(JSON.parse(png.text.prompt)).to.have.property('2');
      await s.waitFor(finished(id));
      const id2 = await submit(saveGraph({ width: 20, height: 10, color: 0x654321, prefix: 'px' }), 'c');
      const second = await s.waitFor((m) => m.type === 'executed' && m.data.prompt_id === id2);
      expect((second.data.output as { images: { filename: string }[] }).images[0].filename).to.equal('px_00003_.png');
    });

    it('loads an uploaded PNG and really inverts it; PreviewImage writes to temp', async () => {
      const rgb = Buffer.alloc(8 * 6 * 3);
      for (let i = 0; i < rgb.length; i++) rgb[i] = i % 3 === 0 ? 200 : 10;
      const form = new FormData();
      form.append('image', new Blob([encodePng(8, 6, rgb)], { type: 'image/png' }), 'src.png');
      const up = await fetch(`${fake.url}/upload/image`, { method: 'POST', body: form });
      expect(await up.json()).to.deep.equal({ name: 'src.png', subfolder: '', type: 'input' });
      expect(fake.uploads.get('src.png')?.length).to.be.greaterThan(0);
      const s = await open('inv');
      const id = await submit({
        '1': { class_type: 'LoadImage', inputs: { image: 'src.png' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inv' } },
        '4': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
      }, 'inv');
      await s.waitFor(finished(id));
      const history = await getJson<Record<string, { outputs: Record<string, { images: { filename: string; subfolder: string; type: string }[] }> }>>(fake, `/history/${id}`);
      const saved = await viewPng(history[id].outputs['3'].images[0]);
      expect([saved.width, saved.height, saved.rgb[0], saved.rgb[1]]).to.deep.equal([8, 6, 55, 245]);
      const preview = history[id].outputs['4'].images[0];
      expect(preview.type).to.equal('temp');
      expect(preview.filename).to.match(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/);
      expect((await viewPng(preview)).width).to.equal(8);
    });

    it('runs the txt2img chain with one progress message per KSampler step', async () => {
      const s = await open('k');
      const id = await submit({
        '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
        '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['1', 1] } },
        '3': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['1', 1] } },
        '4': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 32, batch_size: 1 } },
        '5': { class_type: 'KSampler', inputs: { seed: 7, steps: 4, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0] } },
        '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
        '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'k' } },
      }, 'k');
      await s.waitFor(finished(id));
      const progress = s.messages.filter((m) => m.type === 'progress');
      expect(progress.map((m) => [m.data.value, m.data.max, m.data.node])).to.deep.equal([[1, 4, '5'], [2, 4, '5'], [3, 4, '5'], [4, 4, '5']]);
      const executing = s.messages.filter((m) => m.type === 'executing' && m.data.node !== null).map((m) => m.data.node);
      expect(executing.slice(-3)).to.deep.equal(['5', '6', '7']);
      const queue = await getJson<{ history?: unknown }>(fake, `/history/${id}`);
      const entry = (queue as Record<string, { prompt: unknown[]; outputs: Record<string, { images: { filename: string; subfolder: string; type: string }[] }> }>)[id];
      expect((entry.prompt[2] as Record<string, { inputs: Record<string, unknown> }>)['5'].inputs.cfg).to.equal(7);
      const png = await viewPng(entry.outputs['7'].images[0]);
      expect([png.width, png.height]).to.deep.equal([64, 32]);
    });

    it('caches like the classic cache: identical nodes are cached, other prompts and /free evict', async () => {
      const s = await open('cache');
      const cachedOf = async (graph: Record<string, unknown>): Promise<unknown> => {
        const id = await submit(graph, 'cache');
        const msg = await s.waitFor((m) => m.type === 'execution_cached' && m.data.prompt_id === id);
        await s.waitFor(finished(id));
        return msg.data.nodes;
      };
      expect(await cachedOf(saveGraph({ prefix: 'a' }))).to.deep.equal([]);
      expect(await cachedOf(saveGraph({ prefix: 'a' }))).to.deep.equal(['1', '2']);
      expect(await cachedOf(saveGraph({ prefix: 'b' }))).to.deep.equal(['1']);
      expect(await cachedOf(saveGraph({ prefix: 'b', color: 1 }))).to.deep.equal([]);
      expect(await cachedOf(saveGraph({ prefix: 'a' }))).to.deep.equal([]);
      expect((await postJson(fake, '/free', { unload_models: true, free_memory: true })).status).to.equal(200);
      expect(await cachedOf(saveGraph({ prefix: 'a' }))).to.deep.equal([]);
    });

    it('reports execution_error of FailingNode with the captured fields and keeps upstream outputs', async () => {
      const s = await open('f');
      const id = await submit({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'before' } },
        '3': { class_type: 'FailingNode', inputs: { message: 'kaput', value: ['1', 0] } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'after' } },
      }, 'f');
      const err = await s.waitFor((m) => m.type === 'execution_error');
      expect(Object.keys(err.data)).to.deep.equal(['prompt_id', 'node_id', 'node_type', 'executed', 'exception_message', 'exception_type', 'traceback', 'current_inputs', 'current_outputs', 'timestamp']);
      expect([err.data.node_id, err.data.node_type, err.data.exception_message, err.data.exception_type]).to.deep.equal(['3', 'FailingNode', 'kaput\n', 'RuntimeError']);
      expect(err.data.executed).to.deep.equal(['1', '2']);
      await s.waitFor(finished(id));
      const history = await getJson<Record<string, { status: { status_str: string; completed: boolean }; outputs: Record<string, unknown> }>>(fake, `/history/${id}`);
      expect(history[id].status.status_str).to.equal('error');
      expect(Object.keys(history[id].outputs)).to.deep.equal(['2']);
    });
  });

  describe('validation', () => {
    const reject = async (graph: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const res = await postJson(fake, '/prompt', { prompt: graph, client_id: 'v' });
      expect(res.status).to.equal(400);
      return res.json;
    };

    it('rejects bad prompts with the real error types and sends nothing on the socket', async () => {
      const s = await open('v');
      await s.waitFor((m) => m.type === 'status');
      const small = await reject(saveGraph({ width: 0 }));
      expect(JSON.stringify(small.node_errors)).to.contain('value_smaller_than_min').and.contain('Value 0 smaller than min of 1');
      const notInList = await reject({
        '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'nope.safetensors' } },
        '2': { class_type: 'CLIPTextEncode', inputs: { text: 'x', clip: ['1', 1] } },
        '3': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
        '4': { class_type: 'KSampler', inputs: { seed: 1, steps: 2, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['1', 0], positive: ['2', 0], negative: ['2', 0], latent_image: ['3', 0] } },
        '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
        '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'x' } },
      });
      expect(notInList.node_errors).to.have.nested.property('1.errors[0].type', 'value_not_in_list');
      expect(notInList.node_errors).to.have.nested.property('1.dependent_outputs[0]', '6');
      const badLink = await reject({ ...saveGraph(), '2': { class_type: 'SaveImage', inputs: { images: ['1', 0, 1], filename_prefix: 'x' } } });
      expect(badLink.node_errors).to.have.nested.property('2.errors[0].type', 'bad_linked_input');
      expect((await reject({ '1': { class_type: 'EmptyImage', inputs: {} } })).error).to.have.property('type', 'prompt_no_outputs');
      expect((await reject({ '1': { inputs: {} } })).error).to.have.property('type', 'invalid_prompt');
      const wrongType = await reject({ ...saveGraph(), '1': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } } });
      expect(wrongType.node_errors).to.have.nested.property('2.errors[0].type', 'return_type_mismatch');
      await new Promise((r) => setTimeout(r, 30));
      expect(s.messages.map((m) => m.type)).to.deep.equal(['status']);
      expect(fake.prompts.map((p) => p.accepted)).to.deep.equal([false, false, false, false, false, false]);
    });

    it('answers 500 to a body that is not JSON, as aiohttp does', async () => {
      const res = await fetch(`${fake.url}/prompt`, { method: 'POST', body: 'nope', headers: { 'Content-Type': 'application/json' } });
      expect(res.status).to.equal(500);
      expect(await res.text()).to.contain('Server got itself in trouble');
    });
  });

  describe('controls', () => {
    it('setNodeDuration slows one class; TestSleep reports progress up to `seconds`', async () => {
      fake.setNodeDuration('TestSleep', 150);
      const s = await open('t');
      const started = Date.now();
      const id = await submit({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 5 } },
        '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 0.5 } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'slept' } },
      }, 't');
      await s.waitFor(finished(id));
      expect(Date.now() - started).to.be.within(150, 2000);
      const progress = s.messages.filter((m) => m.type === 'progress');
      expect(progress.length).to.be.greaterThan(2);
      expect(progress.at(-1)?.data).to.include({ value: 0.5, max: 0.5, node: '2' });
    });

    it('holdNode keeps a started node running until its release', async () => {
      const release = fake.holdNode('TestSleep');
      const s = await open('held');
      const id = await submit({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 5 } },
        '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 0.5 } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'held' } },
      }, 'held');
      await s.waitFor((m) => m.type === 'executing' && m.data.node === '2' && m.data.prompt_id === id);
      // Held: the queue still shows it running, and nothing after the node's start has been sent.
      const queue = await getJson(fake, '/queue');
      expect(queue.queue_running).to.have.length(1);
      expect(s.messages.some((m) => m.type === 'progress' || m.type === 'execution_success')).to.equal(false);
      release();
      await s.waitFor(finished(id));
      expect(s.messages.some((m) => m.type === 'execution_success' && m.data.prompt_id === id)).to.equal(true);
    });

    it('failNextRun fails the next prompt at its first executed node only', async () => {
      const s = await open('fail');
      fake.failNextRun('injected');
      const id = await submit(saveGraph({ prefix: 'f1' }), 'fail');
      const err = await s.waitFor((m) => m.type === 'execution_error' && m.data.prompt_id === id);
      expect(err.data).to.include({ node_id: '1', exception_message: 'injected\n' });
      await s.waitFor(finished(id));
      const id2 = await submit(saveGraph({ prefix: 'f2' }), 'fail');
      await s.waitFor((m) => m.type === 'execution_success' && m.data.prompt_id === id2);
    });

    it('goSilent keeps sockets open and silent while runs and history proceed', async () => {
      const s = await open('quiet');
      await s.waitFor((m) => m.type === 'status');
      fake.goSilent(true);
      const id = await submit(saveGraph(), 'quiet');
      await fake.waitForIdle();
      expect(s.messages.length).to.equal(1);
      expect(s.ws.readyState).to.equal(s.ws.OPEN);
      const history = await getJson(fake, `/history/${id}`);
      expect(history).to.have.nested.property(`${id}.status.status_str`, 'success');
      fake.goSilent(false);
      const id2 = await submit(saveGraph({ prefix: 'loud' }), 'quiet');
      await s.waitFor(finished(id2));
    });

    it('dropSockets cuts every socket; clients can reconnect', async () => {
      const s = await open('drop');
      const closed = new Promise<void>((resolve) => s.ws.once('close', () => resolve()));
      fake.dropSockets();
      await closed;
      await new Promise((r) => setTimeout(r, 10));
      expect(fake.clientCount).to.equal(0);
      const again = await open('drop');
      await again.waitFor((m) => m.type === 'status' && m.data.sid === 'drop');
    });

    it('stop/restart keeps the port and forgets queue, history and counters; files stay', async () => {
      const s = await open('r');
      const id = await submit(saveGraph({ prefix: 'keep' }), 'r');
      await s.waitFor(finished(id));
      const port = fake.port;
      fake.setNodeDuration('EmptyImage', 2000);
      const abandoned = await submit(saveGraph({ prefix: 'lost', color: 9 }), 'r');
      await s.waitFor((m) => m.type === 'executing' && m.data.prompt_id === abandoned);
      await fake.stop();
      expect(await fetch(fake.url + '/prompt').catch(() => 'down')).to.equal('down');
      await fake.restart();
      expect(fake.port).to.equal(port);
      expect(await getJson(fake, '/history')).to.deep.equal({});
      expect(await getJson(fake, '/queue')).to.deep.equal({ queue_running: [], queue_pending: [] });
      const res = await fetch(`${fake.url}/view?filename=keep_00001_.png`);
      expect(res.status).to.equal(200);
      fake.setNodeDuration('EmptyImage', 2);
      const after = await postJson(fake, '/prompt', { prompt: saveGraph({ prefix: 'keep' }) });
      expect(after.json.number).to.equal(0);
      await fake.waitForIdle();
      expect(await getJson(fake, `/history/${abandoned}`)).to.deep.equal({});
    });

    it('records prompts with their client id', async () => {
      const id = await submit(saveGraph(), 'rec', { prompt_id: 'my-id-1' });
      expect(id).to.equal('my-id-1');
      expect(fake.prompts).to.have.length(1);
      expect(fake.prompts[0]).to.deep.include({ promptId: 'my-id-1', clientId: 'rec', accepted: true });
      expect(fake.prompts[0].graph).to.deep.equal(saveGraph());
    });
  });

  describe('sockets and interrupts', () => {
    it('a second socket with the same clientId takes over the messages', async () => {
      const first = await open('dup');
      const second = await open('dup');
      await second.waitFor((m) => m.type === 'status');
      const before = first.messages.length;
      const id = await submit(saveGraph(), 'dup');
      await second.waitFor(finished(id));
      expect(first.messages.length).to.equal(before);
    });

    it('answers feature_flags only as the first message', async () => {
      const s = await open('ff');
      s.ws.send(JSON.stringify({ type: 'feature_flags', data: {} }));
      const reply = await s.waitFor((m) => m.type === 'feature_flags');
      expect(reply.data).to.deep.equal({ supports_preview_metadata: true, max_upload_size: 104857600 });
      s.ws.send(JSON.stringify({ type: 'feature_flags', data: {} }));
      await new Promise((r) => setTimeout(r, 30));
      expect(s.messages.filter((m) => m.type === 'feature_flags')).to.have.length(1);
    });

    it('a targeted interrupt for another prompt is ignored; for the running one it lands at the next node', async () => {
      fake.setNodeDuration('ImageScale', 150);
      const s = await open('int');
      const id = await submit({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 3 } },
        '2': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'lanczos', width: 16, height: 16, crop: 'disabled' } },
        '3': { class_type: 'ImageScale', inputs: { image: ['2', 0], upscale_method: 'lanczos', width: 8, height: 8, crop: 'disabled' } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'int' } },
      }, 'int');
      await s.waitFor((m) => m.type === 'executing' && m.data.node === '2');
      await postJson(fake, '/interrupt', { prompt_id: 'someone-else' });
      await s.waitFor((m) => m.type === 'executing' && m.data.node === '3');
      await postJson(fake, '/interrupt', { prompt_id: id });
      const stop = await s.waitFor((m) => m.type === 'execution_interrupted');
      expect(stop.data).to.include({ node_id: '4', node_type: 'SaveImage' });
      expect(stop.data.executed).to.deep.equal(['1', '2', '3']);
      await s.waitFor(finished(id));
      expect(await getJson(fake, `/history/${id}`)).to.have.nested.property(`${id}.status.status_str`, 'error');
    });

    it('replays the running node to a reconnecting client, without prompt_id', async () => {
      fake.setNodeDuration('ImageScale', 200);
      const s = await open('re');
      const id = await submit({
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 4 } },
        '2': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'area', width: 4, height: 4, crop: 'disabled' } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 're' } },
      }, 're');
      await s.waitFor((m) => m.type === 'executing' && m.data.node === '2');
      await s.close();
      const again = await open('re');
      const replayed = await again.waitFor((m) => m.type === 'executing');
      expect(replayed.data).to.deep.equal({ node: '2' });
      await again.waitFor(finished(id));
    });
  });

  describe('jobs API', () => {
    it('is absent by default (0.3.64) and served with hasJobsApi', async () => {
      expect((await fetch(`${fake.url}/api/jobs`)).status).to.equal(404);
      const withJobs = await startFakeComfy({ nodeDurationMs: 1, hasJobsApi: true });
      try {
        const res = await fetch(`${withJobs.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: saveGraph() }) });
        const { prompt_id: id } = (await res.json()) as { prompt_id: string };
        await withJobs.waitForIdle();
        const list = (await (await fetch(`${withJobs.url}/api/jobs`)).json()) as { jobs: { id: string; status: string }[]; pagination: { total: number } };
        expect(list.jobs[0]).to.include({ id, status: 'completed' });
        expect(list.pagination.total).to.equal(1);
        expect((await fetch(`${withJobs.url}/api/jobs/nope`)).status).to.equal(404);
      } finally {
        await withJobs.stop();
      }
    });
  });

  it('reads object_info definitions identical to the captured ones', async () => {
    const capture = JSON.parse(readFileSync(`${CAPTURE_DIR}/http_object_info_more.json`, 'utf8')) as { timeline: { kind: string; request: { label?: string }; response: { body_raw?: string } }[] };
    let compared = 0;
    for (const e of capture.timeline) {
      const label = e.request?.label;
      if (e.kind !== 'http' || !label || label === 'LoadImage' || !e.response.body_raw) continue;
      const res = await fetch(`${fake.url}/object_info/${label}`);
      expect(await res.text(), label).to.equal(e.response.body_raw);
      compared++;
    }
    expect(compared).to.equal(9);
  });
});
