import { expect } from 'chai';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { killAll, serveOnDataDir as serve, type ServedBridge as Served } from './helpers/serve-process.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';
import { until } from './helpers/until.js';

// Each submission its own clientId: generations taken while the disk is full stay unfinished (their ends cannot be
// recorded), so one clientId would meet its cap of ten active (429) before the tail is used up on a slow machine.
let submissions = 0;
const generate = (url: string) =>
  fetch(`${url}/generate-based-workflow?clientId=full-disk-client-${submissions++}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
  });

const generationCount = async (url: string): Promise<number> =>
  ((await (await fetch(`${url}/generation-count`)).json()) as { generation_count: number }).generation_count;

describe('a bridge whose data disk is full (a real 2 MiB tmpfs)', function () {
  this.timeout(120_000);
  let fake: FakeComfy;
  let disk: SmallDisk;
  const running: Served[] = [];

  before(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    disk = await mountSmallDisk('2m');
  });
  after(async () => {
    await killAll(running);
    await fake.stop();
    await disk.release();
  });

  it('answers 503 storage_unavailable with Retry-After, and the refused generation is neither stored nor run after a restart', async () => {
    const first = await serve(disk.dir, fake.url);
    running.push(first);
    await until(async () => (await fetch(`${first.url}/ready`).catch(() => undefined))?.status === 200, 'the first bridge to be ready', 30_000);

    await disk.fill();
    // The generations datafile's zeroed tail was written before the disk filled (plugins/storage-nedb/README.md):
    // generations whose rows fit in it are taken (and run); the first that does not is refused.
    const taken: string[] = [];
    let refusedOne: Response | undefined;
    for (let tries = 0; refusedOne === undefined; tries++) {
      expect(tries, 'a generation is refused once the tail is used up').to.be.below(200);
      const res = await generate(first.url);
      if (res.status === 200) taken.push(((await res.json()) as { id: string }).id);
      else refusedOne = res;
    }
    const refused = [refusedOne, ...(await Promise.all([generate(first.url), generate(first.url), generate(first.url)]))];
    for (const res of refused) {
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.match(/^\d+$/);
      const body = (await res.json()) as { error: string; detail: string };
      expect(body.error).to.equal('storage_unavailable');
      expect(body.detail).to.not.include('ENOSPC');
    }
    expect(await generationCount(first.url)).to.equal(taken.length);
    // Shut down with room on the disk again: nothing refused may be written on the way out.
    await disk.free();
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);

    const second = await serve(disk.dir, fake.url);
    running.push(second);
    await until(async () => (await fetch(`${second.url}/ready`).catch(() => undefined))?.status === 200, 'the second bridge to be ready', 30_000);
    const history = (await (await fetch(`${second.url}/history`)).json()) as { total_count: number };
    expect(history.total_count).to.equal(taken.length);
    expect(await generationCount(second.url)).to.equal(taken.length);

    // The disk has room: the same request is taken and runs, and it is the only prompt ComfyUI ever saw.
    const accepted = await generate(second.url);
    expect(accepted.status).to.equal(200);
    const { id } = (await accepted.json()) as { id: string };
    await until(
      async () => {
        const res = await fetch(`${second.url}/execution-info?id=${encodeURIComponent(id)}`);
        return res.status === 200 && ((await res.json()) as { data: { state: string } }).data.state === 'completed';
      },
      'the accepted generation to complete',
      20_000,
    );
    expect(fake.prompts.filter((p) => p.accepted)).to.have.length(taken.length + 1);
    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});
