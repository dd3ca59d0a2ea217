import { expect } from 'chai';
import { endedOn, executionInfo as info, killStack, serveOnDataDir as serve } from './helpers/serve-process.js';
import { until } from './generations-stub-transport.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('a bridge killed with SIGKILL mid-generation', function () {
  this.timeout(60_000);
  const stack = killStack('generations-sigkill-');

  it('lets the next bridge on the same data dir finish the generation and serve its result', async () => {
    stack.fake.setNodeDuration('KSampler', 1500);
    const first = await serve(stack.dir, stack.fake.url);
    stack.running.push(first);
    await until(async () => (await fetch(`${first.url}/ready`).catch(() => undefined))?.status === 200, 'the first bridge to be ready', 10_000);

    const res = await fetch(`${first.url}/generate-based-workflow?clientId=sigkill-client`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 5 }),
    });
    expect(res.status).to.equal(200);
    const { id } = (await res.json()) as { id: string };
    await until(async () => (await info(first.url, id))?.data.state === 'running', 'the generation to run', 10_000);

    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).to.equal('SIGKILL');

    const second = await serve(stack.dir, stack.fake.url);
    stack.running.push(second);
    const end = await endedOn(second.url, id, 'the generation to end on the second bridge', 20_000);
    expect(end.data.state).to.equal('completed');
    expect(end.status).to.equal('closed');
    expect(end.data.percent).to.equal(100);
    expect(end.data.result_urls).to.have.length(1);
    expect(end.data.result_urls[0]!.startsWith(`${second.url}/results/${id}/`)).to.equal(true);
    const image = await fetch(end.data.result_urls[0]!);
    expect(image.status, image.status === 200 ? '' : await image.clone().text()).to.equal(200);
    expect(image.headers.get('content-type')).to.equal('image/png');
    expect(Buffer.from(await image.arrayBuffer()).subarray(0, 8).equals(PNG_SIGNATURE)).to.equal(true);
    // The same prompt finished: the fake saw exactly one submission.
    expect(stack.fake.prompts.filter((p) => p.accepted)).to.have.length(1);

    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});
