import { expect } from 'chai';
import type { Socket } from 'node:net';
import { imageSize } from 'image-size';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { getJson, postJson, startStack, type Stack } from './e2e-support.js';
import { FrameReader, refusedUpgrade, wsUrl, type Frame } from './ws-client.js';
import { delay, eventually, stalledSocket } from './ws-support.js';

/** What a client does, over real sockets, against the real plugins and the fake ComfyUI. */
describe('e2e: client flows against the fake ComfyUI', function () {
  this.timeout(20_000);
  let stack: Stack | undefined;
  const readers: FrameReader[] = [];
  const raw: Socket[] = [];

  async function start(options: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
    stack = await startStack(options);
    return stack;
  }

  async function open(clientId: string, extra = ''): Promise<FrameReader> {
    const reader = await FrameReader.open(wsUrl(stack!.bridge.url, `?clientId=${clientId}${extra}`));
    readers.push(reader);
    return reader;
  }

  const generate = (query: string, body: Record<string, unknown>) => postJson(`${stack!.bridge.url}/generate-based-workflow${query}`, body);

  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    for (const socket of raw.splice(0)) socket.destroy();
    await stack?.stop();
    stack = undefined;
  });

  /** The generation frames a finished socket saw: numbered 1 by 1, percent never backwards, 100.00% last. */
  function checkGenerationFrames(frames: Frame[], id: string): void {
    expect(frames.length).to.be.greaterThan(2);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.seq, JSON.stringify(frames)).to.equal(frames[i - 1]!.seq! + 1);
    for (const frame of frames) expect(frame.data!.id).to.equal(id);
    const progress = frames.filter((frame) => frame.status === 'progress').map((frame) => Number.parseFloat(frame.details));
    for (let i = 1; i < progress.length; i++) expect(progress[i]).to.be.at.least(progress[i - 1]!);
    expect(frames.at(-2)).to.include({ status: 'progress', details: '100.00%' });
    expect(frames.at(-1)).to.include({ status: 'closed', details: 'Execution is done' });
  }

  it('list → info → generate → frames in order → closed → result bytes', async () => {
    await start();
    stack!.fake.setNodeDuration('TestSleep', 150);
    const list = (await (await fetch(`${stack!.bridge.url}/workflow-list`)).json()) as { alias: string }[];
    expect(list.map((item) => item.alias)).to.include.members(['sleepy', 'invert', 'failing']);
    const info = await getJson(`${stack!.bridge.url}/workflow-info?workflow=sleepy`);
    expect(Object.keys(info.body).sort()).to.deep.equal(['1/color', '1/height', '1/width']);
    expect(info.body['1/width']).to.include({ type: 'int', class: 'EmptyImage', default: 8 });

    const answer = await generate('?clientId=flow-1', { workflow: 'sleepy', '1/width': 20, '1/height': 10, '1/color': 0xff0000 });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const id = answer.body.id as string;
    expect(answer.body).to.include({ clientId: 'flow-1', workflow: 'sleepy', status: 'queued', position: 0, detail: 'queued / 0' });
    expect(id).to.match(/^gen_[A-Za-z0-9_-]{20,}$/);

    // Opened after the POST: it still gets the whole generation.
    const reader = await open('flow-1');
    expect((await reader.untilClosed(10_000)).code).to.equal(1000);
    expect(reader.frames[0]).to.deep.equal({ status: 'connected', details: 'server connected' });
    const frames = reader.generationFrames();
    checkGenerationFrames(frames.filter((frame) => !frame.snapshot), id);
    const urls = frames.at(-1)!.data!.result_urls as string[];
    expect(urls).to.have.length(1);

    const result = await fetch(urls[0]!);
    expect(result.status).to.equal(200);
    expect(result.headers.get('content-type')).to.equal('image/png');
    const bytes = Buffer.from(await result.arrayBuffer());
    expect(imageSize(bytes)).to.include({ width: 20, height: 10, type: 'png' });
    const png = decodePng(bytes);
    expect([...png.rgb.subarray(0, 3)]).to.deep.equal([255, 0, 0]);
  });

  it("the original bridge's client flow: socket first, POST with ?clientId= and a flat body, read until closed", async () => {
    await start();
    stack!.fake.setNodeDuration('TestSleep', 100);
    const reader = await open('legacy-1');
    expect(await reader.next()).to.deep.equal({ status: 'connected', details: 'server connected' });
    const answer = await generate('?clientId=legacy-1', { workflow: 'sleepy', '1/width': 12 });
    expect(answer.status).to.equal(200);
    const closed = await reader.next((frame) => frame.status === 'closed', 10_000);
    expect(closed.data!.id).to.equal(answer.body.id);
    expect((await reader.untilClosed()).code).to.equal(1000);
    checkGenerationFrames(reader.generationFrames(), answer.body.id as string);
    const running = reader.generationFrames().filter((frame) => frame.data!.state === 'running');
    expect(running.length).to.be.greaterThan(1);
  });

  it('uploads an image, generates with it and gets its inverted pixels back', async () => {
    await start();
    const form = new FormData();
    form.append('upload_0', new Blob([encodePng(4, 3, Buffer.alloc(4 * 3 * 3, 0x20))], { type: 'image/png' }), 'mine.png');
    const uploaded = (await (await fetch(`${stack!.bridge.url}/upload?clientId=img-1`, { method: 'POST', body: form })).json()) as Record<string, string>;
    const stored = uploaded.upload_0!;
    expect(stored).to.be.a('string');
    // Another client may not use it.
    const stolen = await generate('?clientId=img-2', { workflow: 'invert', '10/image': stored });
    expect(stolen.status).to.equal(400);
    expect(stolen.body.detail).to.match(/"10\/image"/);

    const answer = await generate('?clientId=img-1', { workflow: 'invert', '10/image': stored, wait: true });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.status).to.equal('closed');
    const [url] = (answer.body.data as { result_urls: string[] }).result_urls;
    const png = decodePng(Buffer.from(await (await fetch(url!)).arrayBuffer()));
    expect([png.width, png.height]).to.deep.equal([4, 3]);
    expect([...png.rgb.subarray(0, 3)]).to.deep.equal([0xdf, 0xdf, 0xdf]);
  });

  it('a generation using the image the workflow ships puts that file on the backend first', async () => {
    await start();
    const answer = await generate('?clientId=shipped-1', { workflow: 'invert', wait: true });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.status).to.equal('closed');
    const submitted = stack!.fake.prompts.find((p) => p.accepted)!;
    const loadImage = submitted.graph['10'] as { inputs: { image: string } };
    expect(stack!.fake.uploads.has(loadImage.inputs.image), loadImage.inputs.image).to.equal(true);
    expect(loadImage.inputs.image).to.match(/^example( \(\d+\))?\.png$/);
    const [url] = (answer.body.data as { result_urls: string[] }).result_urls;
    const png = decodePng(Buffer.from(await (await fetch(url!)).arrayBuffer()));
    expect([png.width, png.height]).to.deep.equal([64, 64]);
  });

  it('REST polling: /execution-info follows the generation until closed', async () => {
    await start();
    stack!.fake.setNodeDuration('TestSleep', 200);
    const answer = await generate('', { workflow: 'sleepy', clientId: 'poller' });
    expect(answer.status).to.equal(200);
    const seen: Record<string, unknown>[] = [];
    for (;;) {
      const polled = await getJson(`${stack!.bridge.url}/execution-info?clientId=poller`);
      expect(polled.status).to.equal(200);
      seen.push(polled.body);
      if (polled.body.status !== 'progress') break;
      await delay(20);
    }
    const last = seen.at(-1)!;
    expect(last.status).to.equal('closed');
    const data = last.data as Record<string, unknown>;
    expect(data).to.include({ id: answer.body.id, state: 'completed', percent: 100 });
    expect(data.result_urls).to.have.length(1);
    const percents = seen.map((body) => (body.data as { percent: number }).percent);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).to.be.at.least(percents[i - 1]!);
    expect(seen.some((body) => (body.data as { state: string }).state === 'running')).to.equal(true);
    const byId = await getJson(`${stack!.bridge.url}/execution-info?id=${String(answer.body.id)}`);
    expect(byId.body).to.deep.equal(last);
  });

  it('with wait: true answers once the generation ended', async () => {
    await start();
    const answer = await generate('?clientId=waiter&wait=true', { workflow: 'sleepy' });
    expect(answer.status).to.equal(200);
    expect(answer.body).to.include({ status: 'closed', details: 'Execution is done' });
    expect((answer.body.data as { state: string }).state).to.equal('completed');
  });

  it('refuses bad requests without submitting anything', async () => {
    await start();
    const cases: [string, Record<string, unknown>, number, RegExp][] = [
      ['?clientId=v', { workflow: 'sleepy', '1/widht': 10 }, 400, /"1\/widht" is not an input of workflow "sleepy"/],
      ['?clientId=v', { workflow: 'sleepy', '1/width': 'wide' }, 400, /"1\/width" must be integer/],
      ['?clientId=v', { workflow: 'sleepy', '1/width': 10 ** 9 }, 400, /"1\/width" must be <=/],
      ['?clientId=v', { workflow: 'no-such-workflow' }, 404, /no workflow named "no-such-workflow"/],
      ['', { workflow: 'sleepy' }, 400, /clientId is required/],
      ['?clientId=v', { workflow: 'invert', '10/image': 'someone-elses.png' }, 400, /"10\/image"/],
    ];
    for (const [query, body, status, detail] of cases) {
      const answer = await generate(query, body);
      expect(answer.status, JSON.stringify(body)).to.equal(status);
      expect(answer.body.detail).to.match(detail);
    }
    expect(stack!.fake.prompts).to.have.length(0);
    expect((await getJson(`${stack!.bridge.url}/execution-info?clientId=v`)).status).to.equal(404);
  });

  it('ComfyUI rejecting the graph: 400 naming the node, generation failed, socket told', async () => {
    await start();
    const reader = await open('rejected-1');
    await reader.next();
    const answer = await generate('?clientId=rejected-1', { workflow: 'rejected' });
    expect(answer.status).to.equal(400);
    expect(answer.body.node_errors, JSON.stringify(answer.body)).to.have.property('10');
    expect(answer.body.detail).to.match(/10/);
    expect(answer.body.detail).to.match(/not-on-comfyui\.png/);
    const info = await getJson(`${stack!.bridge.url}/execution-info?clientId=rejected-1`);
    expect(info.body.status).to.equal('error');
    expect((info.body.data as { state: string }).state).to.equal('failed');
    const error = await reader.next((frame) => frame.status === 'error');
    expect(error.seq).to.be.a('number');
    expect((await reader.next((frame) => frame.status === 'closed')).seq).to.equal(error.seq! + 1);
    expect((await reader.untilClosed()).code).to.equal(1000);
  });

  it('a runtime error: error frame, closed, and the generation failed', async () => {
    await start();
    const reader = await open('failing-1');
    const answer = await generate('?clientId=failing-1', { workflow: 'failing', '2/message': 'melted' });
    expect(answer.status).to.equal(200);
    expect((await reader.untilClosed(10_000)).code).to.equal(1000);
    const frames = reader.generationFrames();
    const error = frames.at(-2)!;
    expect(error.status).to.equal('error');
    expect(error.details).to.match(/melted/);
    expect(frames.at(-1)).to.include({ status: 'closed' });
    const info = await getJson(`${stack!.bridge.url}/execution-info?id=${String(answer.body.id)}`);
    expect(info.body.status).to.equal('error');
    expect((info.body.data as { state: string; error_message: string }).error_message).to.match(/melted/);
  });

  it('reconnecting with since replays exactly the frames missed', async () => {
    await start();
    stack!.fake.setNodeDuration('TestSleep', 400);
    const witness = await open('resume-1');
    const dropping = await open('resume-1');
    const answer = await generate('?clientId=resume-1', { workflow: 'sleepy' });
    const seen = await dropping.next((frame) => frame.data?.state === 'running');
    dropping.close();
    await witness.untilClosed(10_000);
    const again = await open('resume-1', `&since=${seen.seq}`);
    await again.next((frame) => frame.status === 'closed');
    const missed = witness.generationFrames().filter((frame) => frame.seq! > seen.seq!);
    expect(missed.length).to.be.greaterThan(1);
    expect(again.generationFrames()).to.deep.equal(missed);
    expect(again.generationFrames().at(-1)!.data!.id).to.equal(answer.body.id);
    expect((await again.untilClosed()).code).to.equal(1000);
  });

  it('two clients at once never see each other’s frames', async () => {
    await start();
    stack!.fake.setNodeDuration('TestSleep', 100);
    const [a, b] = [await open('pair-a'), await open('pair-b')];
    const [ga, gb] = await Promise.all([
      generate('?clientId=pair-a', { workflow: 'sleepy', '1/width': 9 }),
      generate('?clientId=pair-b', { workflow: 'sleepy', '1/width': 11 }),
    ]);
    await Promise.all([a.untilClosed(10_000), b.untilClosed(10_000)]);
    checkGenerationFrames(a.generationFrames(), ga.body.id as string);
    checkGenerationFrames(b.generationFrames(), gb.body.id as string);
  });

  it('a stalled consumer is cut off while another client keeps receiving', async () => {
    await start({ ws: { pingIntervalMs: 100, maxBufferedBytes: 1024 } });
    stack!.fake.setNodeDuration('TestSleep', 300);
    raw.push(await stalledSocket(stack!.bridge.port, '/ws?clientId=stalled'));
    const healthy = await open('healthy');
    await generate('?clientId=stalled', { workflow: 'sleepy' });
    const answer = await generate('?clientId=healthy', { workflow: 'sleepy' });
    await eventually(() => stack!.stats.snapshot().droppedDeadTotal + stack!.stats.snapshot().droppedSlowTotal >= 1, 5000, 'stalled socket cut off');
    expect((await healthy.untilClosed(10_000)).code).to.equal(1000);
    checkGenerationFrames(healthy.generationFrames(), answer.body.id as string);
    await eventually(() => stack!.stats.snapshot().connected === 0, 3000, 'every socket gone');
  });

  it('a huge client frame closes that socket only', async () => {
    await start({ ws: { maxPayload: 4096 } });
    const noisy = await open('noisy');
    const calm = await open('calm');
    noisy.ws.send('x'.repeat(100_000));
    expect((await noisy.untilClosed()).code).to.equal(1009);
    const answer = await generate('?clientId=calm', { workflow: 'sleepy' });
    expect((await calm.untilClosed(10_000)).code).to.equal(1000);
    checkGenerationFrames(calm.generationFrames(), answer.body.id as string);
  });

  it('refuses an upgrade without clientId with 400', async () => {
    await start();
    const refused = await refusedUpgrade(wsUrl(stack!.bridge.url, ''));
    expect(refused.status).to.equal(400);
    expect(refused.body).to.include({ error: 'bad_request' });
    expect(refused.body.detail).to.match(/clientId/);
  });
});
