import { expect } from 'chai';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCompleted, killStack, serveBridge, serveOnDataDir as serve, type ServedBridge as Served } from './helpers/serve-process.js';
import { until } from './helpers/until.js';

const HOUR_MS = 3_600_000;

const ready = (bridge: Served, what: string) => until(async () => (await fetch(`${bridge.url}/ready`).catch(() => undefined))?.status === 200, what, 15_000);

/**
 * A result's bytes are durable in the results write-ahead log (results.wal) before its row is written; the file at
 * its usual name is synced later. A power loss cannot be made here: a bridge whose files' own syncs wait an hour (the
 * results option fileSyncDelayMs) is killed with SIGKILL once two generations are `completed`, then one
 * result file is cut to nothing and the other removed, as a power loss would leave files written and not synced yet. The next bridge on that data dir serves both byte for byte, before anything else
 * (the log is replayed at start), and a third start finds the log empty (zeroed after the replay).
 */
describe('results write-ahead log: a bridge killed with SIGKILL once its generations completed, their files lost', function () {
  this.timeout(60_000);
  const stack = killStack('results-log-kill-');

  /** A completed generation's result: its path on the bridge and its bytes as served. */
  async function generate(bridge: Served, clientId: string): Promise<{ url: string; bytes: Buffer }> {
    const url = (await generateCompleted(bridge.url, clientId)).data.result_urls[0]!;
    const served = await fetch(url);
    expect(served.status).to.equal(200);
    return { url: new URL(url).pathname, bytes: Buffer.from(await served.arrayBuffer()) };
  }

  it('restores the files from the log at the next start, byte for byte', async () => {
    // Its files' own syncs an hour away: killed between the log's sync and theirs, whatever the timing.
    const config = join(stack.dir, 'held-syncs.json');
    await writeFile(config, JSON.stringify({ plugins: { results: { fileSyncDelayMs: HOUR_MS } } }));
    const first = await serveBridge({ args: ['--config', config], env: { COMFY_BRIDGE_DATA_DIR: stack.dir, COMFY_BRIDGE_COMFYUI_URLS: stack.fake.url } });
    stack.running.push(first);
    await ready(first, 'the first bridge to be ready');
    const cut = await generate(first, 'log-kill-a');
    const gone = await generate(first, 'log-kill-b');
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).to.equal('SIGKILL');

    // What a power loss leaves of files not synced yet: one empty, one gone (its folder stays: synced while it ran).
    const fileOf = (result: { url: string }) => join(stack.dir, ...result.url.split('/').slice(1).map(decodeURIComponent));
    await truncate(fileOf(cut), 0);
    await rm(fileOf(gone));

    const second = await serve(stack.dir, stack.fake.url);
    stack.running.push(second);
    for (const result of [cut, gone]) {
      const served = await until(async () => (await fetch(`${second.url}${result.url}`).catch(() => undefined)) ?? undefined, 'the second bridge to answer', 15_000);
      expect(served.status).to.equal(200);
      expect(Buffer.from(await served.arrayBuffer()).equals(result.bytes), 'served byte for byte').to.equal(true);
      expect((await readFile(fileOf(result))).equals(result.bytes), 'on the disk byte for byte').to.equal(true);
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);

    // The log was zeroed after the replay: its size kept (the zeros written ahead), no record left.
    const log = await readFile(join(stack.dir, 'results.wal'));
    expect(log.length).to.equal((await stat(join(stack.dir, 'results.wal'))).size);
    expect(log.some((byte) => byte !== 0), 'no record left in the log').to.equal(false);
  });
});
