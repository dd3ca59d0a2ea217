import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

describe('workflow files that fail to load are visible in /ready', () => {
  let dir: string;
  let bridge: RunningBridge | undefined;
  afterEach(async () => {
    await bridge?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists each skipped file with its reason, without making the bridge unready for it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-wf-errors-'));
    await writeFile(join(dir, 'broken.json'), '{ not json');
    bridge = await startBridge({ plugins: { util: {}, 'storage-nedb': { inMemory: true }, workflows: { dir, watch: false } } });
    const response = await fetch(`${bridge.url}/ready`);
    const body = (await response.json()) as { reasons: string[]; workflow_errors: { file: string; reason: string }[] };
    expect(body.workflow_errors).to.have.length(1);
    expect(body.workflow_errors[0]!.file).to.equal('broken.json');
    expect(body.workflow_errors[0]!.reason).to.be.a('string').and.not.equal('');
    expect(body.reasons.join(' ')).not.to.contain('broken.json');
  });
});
