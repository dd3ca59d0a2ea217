import { expect } from 'chai';
import type { BlobStore } from '../contracts/blob-store.js';
import { DirectoryBlobStore } from '../contracts/directory-blob-store.js';
import { startBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A result folder readied while a prompt runs (results.prepare) is made in the background; a bridge that
 * stops meanwhile waits for it, so nothing appears in its data dir after close (a test's clean-up of
 * that dir then met ENOTEMPTY).
 */
describe('results: close waits for the folder work it started', () => {
  it('does not resolve close() before a readied folder is made', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'results-close-'));
    const store = new DirectoryBlobStore(dir);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let resets = 0;
    const blobs: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      resetPrefix: async (prefix: string) => {
        resets += 1;
        await gate;
        return store.resetPrefix!(prefix);
      },
    });
    const probe: Probe = {};
    const bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {} },
      extraPlugins: [providing('gated-blobs', { blobs }), stubTransportPlugin(new StubTransport()), probePlugin(probe)],
    });
    try {
      probe.results!.prepare!('gen-1');
      await until(() => resets === 1, 'the folder to be readied');
      const closing = bridge.close().then(() => 'closed' as const);
      // Proving a wait takes a bounded window: without the wait, close() resolves within a few ms.
      const first = await Promise.race([closing, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 300))]);
      expect(first, 'close waits for the readied folder').to.equal('waiting');
      open();
      expect(await closing).to.equal('closed');
    } finally {
      open();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
