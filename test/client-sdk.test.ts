import { expect } from 'chai';
import { imageSize } from 'image-size';
import { BridgeApiError, ComfyBridgeClient, GenerationFailedError, type AnyWorkflows, type SocketFrame, type WorkflowsOf } from '../client/src/index.js';
import history from '../plugins/history/index.js';
import interrupt from '../plugins/interrupt/index.js';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { startStack, type Stack } from './e2e-support.js';

/** The inputs of the e2e workflows, as an app that generated types for its own bridge would have them. */
type E2eWorkflows = WorkflowsOf<
  | { workflow: 'sleepy'; '1/width'?: number; '1/height'?: number; '1/color'?: number }
  | { workflow: 'invert'; '10/image'?: string }
  | { workflow: 'failing'; '2/message'?: string }
>;

/** The SDK against the real bridge and the fake ComfyUI. */
describe('client SDK: calls against the real bridge', function () {
  this.timeout(20_000);
  let stack: Stack;
  let client: ComfyBridgeClient<E2eWorkflows>;

  before(async () => {
    stack = await startStack({ extraPlugins: [history, interrupt] as never[] });
  });
  after(() => stack?.stop());
  beforeEach(() => {
    client = new ComfyBridgeClient<E2eWorkflows>({ baseUrl: stack.bridge.url });
  });

  it('lists workflows and reads a workflow’s inputs', async () => {
    const list = await client.listWorkflows();
    expect(list.map((w) => w.alias)).to.include.members(['sleepy', 'invert', 'failing']);
    const info = await client.workflowInfo('sleepy');
    expect(info['1/width']).to.include({ type: 'int', default: 8 });
  });

  it('upload → generate → done() → download: the inverted pixels of the uploaded image', async () => {
    const stored = await client.upload({ photo: new Blob([encodePng(3, 2, Buffer.alloc(3 * 2 * 3, 0x10))], { type: 'image/png' }) });
    expect(stored.photo).to.match(/^cb_/);
    const generation = await client.generate('invert', { '10/image': stored.photo! });
    expect(generation.id).to.match(/^gen_/);
    expect(generation.clientId).to.equal(client.clientId);
    const { urls } = await generation.done();
    expect(urls).to.have.length(1);
    const png = decodePng(Buffer.from(await (await client.results.download(urls[0]!)).arrayBuffer()));
    expect([png.width, png.height, ...png.rgb.subarray(0, 3)]).to.deep.equal([3, 2, 0xef, 0xef, 0xef]);
    expect(await client.results.list(generation.id)).to.deep.equal(urls);
  });

  it('frames() of a generation: progress never backwards, then closed with the result URLs', async () => {
    stack.fake.setNodeDuration('TestSleep', 100);
    const generation = await client.generate('sleepy', { '1/width': 16, '1/height': 9 });
    const frames: SocketFrame[] = [];
    for await (const frame of generation.frames()) frames.push(frame);
    const percents = frames.filter((f) => f.status === 'progress').map((f) => f.data!.percent!);
    expect(percents.length).to.be.greaterThan(1);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).to.be.at.least(percents[i - 1]!);
    expect(frames.at(-1)).to.include({ status: 'closed', details: 'Execution is done' });
    const { urls } = await generation.done();
    expect(frames.at(-1)!.data!.result_urls).to.deep.equal(urls);
    expect(imageSize(Buffer.from(await (await client.results.download(urls[0]!)).arrayBuffer()))).to.include({ width: 16, height: 9 });
  });

  it('wait: true answers with the final frame; done() resolves at once', async () => {
    const generation = await client.generate('sleepy', {}, { wait: true });
    expect(generation.answer).to.include({ status: 'closed' });
    expect((await generation.done()).urls).to.have.length(1);
  });

  it('a failing generation rejects done() with GenerationFailedError carrying the reason', async () => {
    const generation = await client.generate('failing', { '2/message': 'out of cheese' });
    const failure = await generation.done().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).to.be.instanceOf(GenerationFailedError);
    expect((failure as GenerationFailedError).frame.data.state).to.equal('failed');
    expect((failure as GenerationFailedError).message).to.contain('out of cheese');
  });

  it('refusals are BridgeApiError with status, error and detail', async () => {
    const loose = new ComfyBridgeClient<AnyWorkflows>({ baseUrl: stack.bridge.url });
    const unknown = await loose.generate('no-such-workflow').catch((error: unknown) => error);
    expect(unknown).to.be.instanceOf(BridgeApiError);
    expect(unknown).to.include({ status: 404, error: 'not_found' });
    const wrongType = await loose.generate('sleepy', { '1/width': 'wide' }).catch((error: unknown) => error);
    expect(wrongType).to.include({ status: 400, error: 'bad_request' });
    expect((wrongType as BridgeApiError).detail).to.contain('1/width');
    expect((wrongType as BridgeApiError).requestId).to.be.a('string');
    const offline = await new ComfyBridgeClient({ baseUrl: 'http://127.0.0.1:9' }).listWorkflows().catch((error: unknown) => error);
    expect(offline).to.include({ status: 0, error: 'network_error' });
  });

  it('interrupt() stops a running generation; done() rejects with state interrupted', async () => {
    stack.fake.setNodeDuration('TestSleep', 2000);
    const generation = await client.generate('sleepy');
    const frames = generation.frames();
    for await (const frame of frames) if (frame.data?.state === 'running') break;
    await generation.interrupt();
    const failure = (await generation.done().catch((error: unknown) => error)) as GenerationFailedError;
    expect(failure).to.be.instanceOf(GenerationFailedError);
    expect(failure.frame.data.state).to.equal('interrupted');
  });

  it('history() pages this client’s generations, newest first', async () => {
    stack.fake.setNodeDuration('TestSleep', 1);
    const generation = await client.generate('sleepy', {}, { wait: true });
    const page = await client.history({ clientId: client.clientId, limit: 5 });
    expect(page.total_count).to.equal(1);
    expect(page.history[0]).to.include({ id: generation.id, status: 'completed', workflow: 'sleepy' });
  });

  it('types: unknown aliases and input keys, and wrong value types, do not compile', () => {
    const typed = (): void => {
      // @ts-expect-error not an alias of E2eWorkflows
      void client.generate('sleepy-typo');
      // @ts-expect-error not an input of sleepy
      void client.generate('sleepy', { '1/depth': 3 });
      // @ts-expect-error width is a number
      void client.generate('sleepy', { '1/width': 'wide' });
      // The default types: the workflows shipped in workflows/.
      const shipped = new ComfyBridgeClient({ baseUrl: stack.bridge.url });
      void shipped.generate('text-to-image', { '3/seed': 42, '6/text': 'a fox' });
      // @ts-expect-error the seed is a number
      void shipped.generate('text-to-image', { '3/seed': 'x' });
    };
    expect(typed).to.be.a('function');
  });
});
