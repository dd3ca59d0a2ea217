import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { OutputRef } from '../contracts/transport.js';
import { DirectoryBlobStore } from '../plugins/results/dir-blob-store.js';
import { copyOutputs } from '../plugins/results/store.js';

const ref = (filename: string): OutputRef => ({ node: '9', kind: 'images', filename, subfolder: '', type: 'output' });
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A body as ComfyUI's GET /view sends it: in chunks, with the length it announced (null: none). */
function served(bytes: Buffer, length: number | null = bytes.length, chunk = 64 * 1024) {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) parts.push(bytes.subarray(at, at + chunk));
  return { stream: Readable.from(parts), contentType: 'image/png', length };
}

/**
 * The results copy (plugins/results/store.ts): a small file announced with its length is read whole and
 * written with one putBytes; a large one, or one without a length, streams. Both give the same record.
 */
describe('results copy: whole small files and streamed large ones', () => {
  let root: string;
  let store: DirectoryBlobStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'results-copy-'));
    store = new DirectoryBlobStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('copies a small, a large and an unannounced file, each with its size and SHA-256, through the path its size calls for', async () => {
    const small = Buffer.alloc(3000, 1);
    const large = Buffer.alloc(1024 * 1024 + 10, 2);
    const unannounced = Buffer.from('no content-length');
    const bodies: Record<string, ReturnType<typeof served>> = { 'a.png': served(small), 'b.png': served(large), 'c.png': served(unannounced, null) };
    const wholes: string[] = [];
    const putBytes = store.putBytes.bind(store);
    store.putBytes = (key, bytes) => {
      wholes.push(key);
      return putBytes(key, bytes);
    };
    const results = await copyOutputs(store, 'results/gen_1/', [ref('a.png'), ref('b.png'), ref('c.png')], async (r) => bodies[r.filename]!);
    expect(results.map((r) => [r.filename, r.size, r.sha256])).to.deep.equal([
      ['a.png', small.length, sha256(small)],
      ['b.png', large.length, sha256(large)],
      ['c.png', unannounced.length, sha256(unannounced)],
    ]);
    expect(wholes, 'only the small file announced with its length is written whole').to.deep.equal(['results/gen_1/a.png']);
    expect(await readFile(join(root, 'results', 'gen_1', 'a.png'))).to.deep.equal(small);
    expect((await readFile(join(root, 'results', 'gen_1', 'b.png'))).equals(large)).to.equal(true);
    expect((await readdir(join(root, 'results', 'gen_1'))).sort()).to.deep.equal(['a.png', 'b.png', 'c.png']);
  });

  it('a small body shorter or longer than announced, or failing mid-way, fails the copy and leaves the folder empty', async () => {
    const bytes = Buffer.alloc(5000, 3);
    const failing = () => {
      const stream = new Readable({ read() {} });
      stream.push(bytes.subarray(0, 100));
      setImmediate(() => stream.destroy(new Error('connection reset')));
      return { stream, contentType: 'image/png', length: bytes.length };
    };
    const cases: [string, () => ReturnType<typeof served>, string][] = [
      ['short', () => served(bytes.subarray(0, 4000), bytes.length), 'arrived truncated (4000 of 5000 bytes)'],
      ['long', () => served(bytes, 1000, 512), 'arrived truncated'],
      ['failing', failing, 'connection reset'],
    ];
    for (const [name, body, message] of cases) {
      const error = await copyOutputs(store, `results/gen_${name}/`, [ref('x.png')], async () => body()).catch((e: unknown) => e);
      expect(error, name).to.be.instanceOf(Error);
      expect((error as Error).message, name).to.contain('x.png').and.to.contain(message);
      expect(await store.list(`results/gen_${name}/`), name).to.deep.equal([]);
    }
  });
});
