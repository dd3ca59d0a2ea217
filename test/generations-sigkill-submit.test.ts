import { expect } from 'chai';
import { endedOn, killStack, serveOnDataDir as serve, type ServedBridge as Served } from './helpers/serve-process.js';
import { until } from './helpers/until.js';

const ready = (bridge: Served, what: string) => until(async () => (await fetch(`${bridge.url}/ready`).catch(() => undefined))?.status === 200, what, 15_000);

/**
 * The answer path submits the prompt once the row is in the datafile and fdatasyncs it meanwhile
 * (docs/architecture.md, "The answer path"). Killed the instant ComfyUI reads the POST /prompt — the
 * sync possibly still running, the client answered nothing — the next bridge on the same data dir
 * knows that prompt: its row is there, and it follows the prompt to its end. A prompt on ComfyUI that
 * no row knows would run unseen, and its client, answered nothing, would submit it again.
 */
describe('a bridge killed with SIGKILL while ComfyUI reads its POST /prompt', function () {
  this.timeout(60_000);
  const stack = killStack('generations-sigkill-submit-');

  it('leaves a row for the prompt ComfyUI received, which the next bridge follows to completion', async () => {
    const first = await serve(stack.dir, stack.fake.url);
    stack.running.push(first);
    await ready(first, 'the first bridge to be ready');
    stack.fake.onPromptReceived = () => first.child.kill('SIGKILL');

    const answer = await fetch(`${first.url}/generate-based-workflow?clientId=sigkill-submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
    }).then(
      (res) => res.status,
      () => 'no answer',
    );
    await first.exited;
    stack.fake.onPromptReceived = undefined;
    expect(first.child.signalCode).to.equal('SIGKILL');
    expect(answer, 'the client was answered nothing').to.equal('no answer');
    const received = stack.fake.prompts.filter((p) => p.accepted);
    expect(received, 'ComfyUI took the prompt').to.have.length(1);

    const second = await serve(stack.dir, stack.fake.url);
    stack.running.push(second);
    await ready(second, 'the second bridge to be ready');
    const history = (await (await fetch(`${second.url}/history?clientId=sigkill-submit`)).json()) as { history: { id: string }[]; total_count: number };
    expect(history.total_count, 'the generation ComfyUI received a prompt for is stored').to.equal(1);
    const { id } = history.history[0]!;
    const end = await endedOn(second.url, id, 'the generation to end on the second bridge', 20_000);
    expect(end.data.state).to.equal('completed');
    expect(end.data.result_urls).to.have.length(1);
    // Followed, not submitted again: ComfyUI still saw that one prompt.
    expect(stack.fake.prompts.filter((p) => p.accepted)).to.have.length(1);

    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});
