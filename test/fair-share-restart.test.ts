import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { endedOn, executionInfo as info, killStack, serveBridge, type ServedBridge as Served } from './helpers/serve-process.js';
import { until } from './helpers/until.js';

/** `comfy-bridge serve --config <file>` on a data dir and one ComfyUI. */
const serve = (configFile: string, dataDir: string, comfyUrl: string): Promise<Served> =>
  serveBridge({ args: ['--config', configFile], env: { COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: comfyUrl } });

describe('fair share: a generation held in the bridge queue when the bridge is killed', function () {
  this.timeout(90_000);
  const stack = killStack('fair-share-restart-');

  it('is still queued after a SIGKILL and runs, once, on the next bridge', async () => {
    const configFile = join(stack.dir, 'fair-share.yaml');
    await writeFile(configFile, 'plugins:\n  generations:\n    fairShare:\n      maxPromptsPerBackend: 1\n');
    const dataDir = join(stack.dir, 'data');
    // The first generation keeps the one slot long enough for the kill to land while the second is held.
    stack.fake.setNodeDuration('KSampler', 4000);
    const first = await serve(configFile, dataDir, stack.fake.url);
    stack.running.push(first);
    await until(async () => (await fetch(`${first.url}/ready`).catch(() => undefined))?.status === 200, 'the first bridge to be ready', 15_000);

    const generate = async (seed: number): Promise<{ id: string; position: number }> => {
      const res = await fetch(`${first.url}/generate-based-workflow?clientId=held-client`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2, '3/seed': seed }),
      });
      expect(res.status).to.equal(200);
      return (await res.json()) as { id: string; position: number };
    };
    const running1 = await generate(1);
    const held = await generate(2);
    // Held by the bridge: ComfyUI has only the first; the answer counts it ahead.
    expect(held.position).to.equal(1);
    expect(stack.fake.prompts.filter((p) => p.accepted)).to.have.length(1);
    expect((await info(first.url, held.id))?.data.state).to.equal('queued');

    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).to.equal('SIGKILL');
    expect(stack.fake.prompts.filter((p) => p.accepted)).to.have.length(1);

    stack.fake.setNodeDuration('KSampler', 5);
    const second = await serve(configFile, dataDir, stack.fake.url);
    stack.running.push(second);
    const ended = (id: string) => endedOn(second.url, id, `generation ${id} to end on the second bridge`, 30_000);
    expect((await ended(running1.id)).data.state).to.equal('completed');
    expect((await ended(held.id)).data.state).to.equal('completed');
    // Each ran once: the followed prompt was not submitted again, the held one was submitted after the restart.
    const accepted = stack.fake.prompts.filter((p) => p.accepted);
    expect(accepted).to.have.length(2);
    expect(new Set(accepted.map((p) => p.promptId)).size).to.equal(2);
    // Released from the queue it was put back in, not taken for a lost prompt and resubmitted.
    const log = second.log();
    expect(log).to.include('released from the bridge queue');
    expect(log).not.to.include('submitting it again');

    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});
