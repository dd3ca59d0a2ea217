import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, open, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sinon from 'sinon';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { makePng, makePngOfSize, pngChunk, withChunkAfterHeader } from './upload-images.js';
import { form, postUpload, type UploadAnswer } from './upload-support.js';

const run = promisify(execFile);
const KiB = 1024;

/** Mounts a 2 MiB tmpfs on `dir`; false where the machine does not allow it (not root, no mount). */
async function mountSmallTmpfs(dir: string): Promise<boolean> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
    return true;
  } catch {
    return false;
  }
}

/** Fills the file system of `dir` until `leaveBytes` are free. */
async function fillUpTo(dir: string, leaveBytes: number): Promise<void> {
  const { bavail, bsize } = await statfs(dir);
  const free = bavail * bsize;
  await writeFile(join(dir, 'filler'), Buffer.alloc(Math.max(0, free - leaveBytes)));
}

function expectDiskFullAnswer(answer: UploadAnswer): void {
  expect(answer.status, JSON.stringify(answer.body)).to.equal(507);
  expect(answer.body).to.deep.equal({ error: 'insufficient_storage', detail: 'the server has no room to store this upload right now; try again later' });
  expect(answer.headers.get('retry-after')).to.equal('60');
}

describe('upload: a full disk is the server’s fault (507), never the client’s', () => {
  let dataDir: string;
  let mounted = false;
  let bridge: RunningBridge;
  const restore: (() => void)[] = [];

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'upload-disk-full-'));
    mounted = await mountSmallTmpfs(dataDir);
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, upload: { maxFileBytes: 1024 * KiB, maxTotalBytes: 1024 * KiB } },
      config: { dataDir },
    });
  });

  afterEach(async () => {
    for (const undo of restore.splice(0)) undo();
    await bridge.close();
    if (mounted) await run('umount', [dataDir]);
    await rm(dataDir, { recursive: true, force: true });
  });

  const uploads = () => join(dataDir, 'uploads');

  async function expectNothingKept(): Promise<void> {
    expect((await readdir(uploads())).sort()).to.deep.equal(['.incoming']);
    expect(await readdir(join(uploads(), '.incoming'))).to.deep.equal([]);
  }

  /** Where mount is not allowed, every file write fails with ENOSPC instead (the same errno a full disk gives). */
  async function injectFullDisk(): Promise<void> {
    const probe = await open(join(dataDir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as Record<string, unknown>;
    await probe.close();
    const full = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 }));
    for (const method of ['write', 'writev', 'writeFile']) {
      const stub = sinon.stub(proto, method).callsFake(full);
      restore.push(() => stub.restore());
    }
  }

  it('while the file is received: 507 with a fixed sentence, nothing kept, and uploads work again once there is room', async () => {
    const image = makePngOfSize(300 * KiB);
    if (mounted) await fillUpTo(dataDir, 64 * KiB);
    else await injectFullDisk();
    expectDiskFullAnswer(await postUpload(bridge.url, form([{ field: 'image', bytes: image }])));
    await expectNothingKept();

    if (mounted) await rm(join(dataDir, 'filler'));
    else for (const undo of restore.splice(0)) undo();
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: image }]));
    expect(answer.status).to.equal(200);
  });

  it('while the re-encoded copy is written (the received file fit): 507, nothing kept', async function () {
    // Needs a real small disk: the received file must fit and the clean copy must not.
    if (!mounted) this.test!.title += ' [ENOSPC injected: every write fails]';
    // An unknown ancillary chunk: these PNGs are re-encoded (a plain PNG, or one with text chunks only,
    // is kept as it came, with no copy to write).
    const comment = pngChunk('prVt', Buffer.from('re-encode me', 'latin1'));
    const image = withChunkAfterHeader(makePngOfSize(300 * KiB), comment);
    const small = withChunkAfterHeader(makePng(4, 4), comment);
    if (mounted) {
      await fillUpTo(dataDir, 450 * KiB);
    } else {
      await injectFullDisk();
    }
    expectDiskFullAnswer(await postUpload(bridge.url, form([{ field: 'small', bytes: small }, { field: 'image', bytes: image }])));
    await expectNothingKept();
  });
});
