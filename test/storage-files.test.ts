import type { Logger } from 'pino';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BootError } from '../core/errors.js';
import { repairDatafileTail } from '../plugins/storage-nedb/datafile-repair.js';
import { datafilePath, lockPath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { applyRetention } from '../contracts/retention.js';
import { appendToDatafile, datafileText } from './helpers/datafile.js';
import { numberedGenerations } from './helpers/generation.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Warning {
  fields: Record<string, unknown>;
  message: string;
}

function capturingLog() {
  const warnings: Warning[] = [];
  const warn = (fields: Record<string, unknown>, message: string) => void warnings.push({ fields, message });
  // pino's LogFn is overloaded; this capture implements only the (fields, message) form the store uses.
  return { warnings, log: { warn, info: () => undefined } as unknown as Pick<Logger, 'info' | 'warn'> };
}

const makeGeneration = numberedGenerations({
  start: '2026-01-01T00:00:00.000Z',
  idPrefix: 'gen_f',
  defaults: {
    clientId: 'client',
    workflow: 'wf',
    state: 'completed',
    backend: 'b1',
    graph: { '1': { class_type: 'EmptyImage', inputs: {} } },
    percent: 100,
    doneNodes: ['1'],
    attempts: 1,
  },
});

/** Runs a child node process (with tsx) that opens a storage-nedb bridge on `dataDir`. */
async function openInChild(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { startBridge } = await import(${JSON.stringify(new URL('./helpers/bridge.ts', import.meta.url).href)});
    try {
      const bridge = await startBridge({ plugins: { 'storage-nedb': {} }, config: { dataDir: ${JSON.stringify(dataDir)} } });
      await bridge.close();
      process.exit(0);
    } catch (error) {
      console.error(error.name + ': ' + error.message);
      process.exit(3);
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid as number;
  await once(child, 'exit');
  return pid;
}

describe('storage-nedb files', () => {
  let dataDir: string;
  const opened: NedbStorage[] = [];

  const open = async (log = capturingLog().log) => {
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log });
    opened.push(storage);
    return storage;
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'storage-files-'));
  });

  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('torn datafile tail', () => {
    it('opens a small file whose last line is torn and keeps every complete row', async () => {
      const first = await open();
      const a = makeGeneration();
      const b = makeGeneration();
      await first.generations.insert(a);
      await first.generations.insert(b);
      await first.close();

      // One whole row plus a half-written one: nedb alone refuses this (50% corrupt).
      const file = datafilePath(dataDir, 'generations');
      const torn = '{"_id":"gen_torn","clientId":"cl';
      // Where the lines end, before the zeroed tail: where the cut write went.
      await appendToDatafile(file, torn);
      const { warnings, log } = capturingLog();
      const storage = await open(log);

      // Both are completed: a final generation is stored without its graph.
      expect(await storage.generations.get(a.id)).to.deep.equal({ ...a, graph: {} });
      expect(await storage.generations.get(b.id)).to.deep.equal({ ...b, graph: {} });
      expect(await storage.generations.get('gen_torn')).to.equal(undefined);
      expect((await storage.generations.counts()).total).to.equal(2);
      expect(warnings).to.have.length(1);
      expect(warnings[0]?.fields).to.deep.equal({ file, droppedBytes: Buffer.byteLength(torn) });
      expect(warnings[0]?.message).to.include(file);
    });

    it('keeps the zeroed tail after whole rows, and cuts a torn line before it (with the tail: the appender writes a new one)', async () => {
      const file = join(dataDir, 'zeros.db');
      await writeFile(file, '{"_id":"a"}\n{"_id":"b"}\n');
      await appendFile(file, Buffer.alloc(100));
      expect(await repairDatafileTail(file)).to.deep.equal({ file, droppedBytes: 0 });
      expect((await stat(file)).size).to.equal(124);
      expect(await datafileText(file)).to.equal('{"_id":"a"}\n{"_id":"b"}\n');

      await writeFile(file, '{"_id":"a"}\n{"_id":"b","ha');
      await appendFile(file, Buffer.alloc(100));
      expect(await repairDatafileTail(file)).to.deep.equal({ file, droppedBytes: 14 });
      expect(await readFile(file, 'utf8')).to.equal('{"_id":"a"}\n');

      // A whole row the crash left without its newline, before the zeros: it gets it, in the tail.
      await writeFile(file, '{"_id":"a"}\n{"_id":"b"}');
      await appendFile(file, Buffer.alloc(100));
      expect(await repairDatafileTail(file)).to.deep.equal({ file, droppedBytes: 0 });
      expect((await stat(file)).size).to.equal(123);
      expect(await datafileText(file)).to.equal('{"_id":"a"}\n{"_id":"b"}\n');
    });

    it('keeps an unterminated last row that is whole, adding its newline', async () => {
      const file = join(dataDir, 'whole.db');
      await writeFile(file, '{"_id":"a"}\n{"_id":"b"}');
      expect(await repairDatafileTail(file)).to.deep.equal({ file, droppedBytes: 0 });
      expect(await readFile(file, 'utf8')).to.equal('{"_id":"a"}\n{"_id":"b"}\n');
    });

    it('handles a torn line longer than one read chunk and a file that is only a torn line', async () => {
      const file = join(dataDir, 'long.db');
      const head = '{"_id":"a"}\n';
      await writeFile(file, head + '{"_id":"x","pad":"' + 'y'.repeat(200_000));
      expect((await repairDatafileTail(file)).droppedBytes).to.equal(200_000 + 18);
      expect(await readFile(file, 'utf8')).to.equal(head);

      const only = join(dataDir, 'only.db');
      await writeFile(only, '{"_id":"a","half');
      expect((await repairDatafileTail(only)).droppedBytes).to.equal(16);
      expect((await stat(only)).size).to.equal(0);
    });

    it('leaves a missing, empty or whole file alone', async () => {
      const missing = join(dataDir, 'missing.db');
      expect(await repairDatafileTail(missing)).to.deep.equal({ file: missing, droppedBytes: 0 });
      expect(existsSync(missing)).to.equal(false);
      const whole = join(dataDir, 'ok.db');
      await writeFile(whole, '{"_id":"a"}\n');
      expect((await repairDatafileTail(whole)).droppedBytes).to.equal(0);
      expect(await readFile(whole, 'utf8')).to.equal('{"_id":"a"}\n');
    });
  });

  describe('data dir lock', () => {
    it('refuses a second open in the same process, naming the dir and the pid', async () => {
      await open();
      let failure: unknown;
      await open().catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(BootError);
      expect((failure as Error).message).to.include(dataDir).and.include(`pid ${process.pid}`);
    });

    it('refuses a second process on the same data dir (it exits non-zero with the message)', async function () {
      this.timeout(30000);
      await open();
      const { code, stderr } = await openInChild(dataDir);
      expect(code).to.equal(3);
      expect(stderr).to.include('BootError').and.include(dataDir).and.include(`pid ${process.pid}`);
    });

    it('releases the lock on close, so another process can open the dir', async function () {
      this.timeout(30000);
      const storage = await open();
      expect(existsSync(lockPath(dataDir))).to.equal(true);
      await storage.close();
      expect(existsSync(lockPath(dataDir))).to.equal(false);
      const { code, stderr } = await openInChild(dataDir);
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(existsSync(lockPath(dataDir))).to.equal(false);
    });

    it('takes over a stale lock whose pid is dead, and an unreadable one', async () => {
      await mkdir(join(dataDir, 'db'), { recursive: true });
      const pid = await deadPid();
      await writeFile(lockPath(dataDir), JSON.stringify({ pid, token: 'old', since: '2020-01-01T00:00:00.000Z' }));
      const storage = await open();
      const holder = JSON.parse(await readFile(lockPath(dataDir), 'utf8')) as { pid: number };
      expect(holder.pid).to.equal(process.pid);
      await storage.close();

      await writeFile(lockPath(dataDir), '{"pid":');
      const again = await open();
      expect(again.isOpen()).to.equal(true);
    });

    it('does not need a lock in memory mode', async () => {
      await open();
      const memory = await NedbStorage.open({ dataDir, inMemory: true, log: capturingLog().log });
      opened.push(memory);
      expect(memory.isOpen()).to.equal(true);
    });
  });

  describe('compaction and retention', () => {
    it('compacts appended update lines back to one line per row', async () => {
      const storage = await open();
      const gen = makeGeneration({ state: 'running' });
      await storage.generations.insert(gen);
      for (let i = 1; i <= 20; i++) await storage.generations.update(gen.id, { percent: i });
      const file = datafilePath(dataDir, 'generations');
      // nedb also keeps one "$$indexCreated" line per ensureIndex; count only rows.
      const rows = async () => (await datafileText(file)).split('\n').filter((line) => line !== '' && !line.includes('$$indexCreated')).length;
      const linesBefore = await rows();
      await storage.compact();
      const linesAfter = await rows();
      expect(linesBefore).to.be.greaterThan(20);
      expect(linesAfter).to.equal(1);
      expect((await storage.generations.get(gen.id))?.percent).to.equal(20);
    });

    it('retention deletes old rows, asks for their result files to be removed and releases their uploads; counts stay', async () => {
      const storage = await open();
      const now = new Date('2026-06-01T00:00:00.000Z');
      const old = makeGeneration({ createdAt: '2026-01-01T00:00:00.000Z', uploads: ['cb_used.png'] });
      const oldRunning = makeGeneration({ createdAt: '2026-01-02T00:00:00.000Z', state: 'running' });
      const fresh = makeGeneration({ createdAt: '2026-05-31T00:00:00.000Z' });
      for (const gen of [old, oldRunning, fresh]) await storage.generations.insert(gen);
      // The results service removes the files (test/storage-plugin.test.ts runs the real one): here, who is asked.
      const removed: string[] = [];
      const removeResults = async (id: string) => void removed.push(id);

      await storage.uploads.insert({
        name: 'cb_used.png',
        clientId: 'client',
        owner: null,
        field: 'f',
        contentType: 'image/png',
        size: 1,
        width: 1,
        height: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
        usedBy: [],
      });
      await storage.uploads.markUsed('cb_used.png', old.id);

      expect(await applyRetention(storage.generations, { maxAgeDays: null, maxRows: null }, removeResults, now)).to.deep.equal([]);
      const deleted = await applyRetention(storage.generations, { maxAgeDays: 30, maxRows: null }, removeResults, now, storage.uploads);
      expect(deleted).to.deep.equal([old.id]);
      expect(removed).to.deep.equal([old.id]);
      // The upload only the deleted generation used is released, so the expiry sweep can take it.
      expect((await storage.uploads.get('cb_used.png'))?.usedBy).to.deep.equal([]);

      await storage.generations.update(oldRunning.id, { state: 'failed' });
      expect(await applyRetention(storage.generations, { maxAgeDays: null, maxRows: 1 }, removeResults, now)).to.deep.equal([oldRunning.id]);
      expect(removed).to.deep.equal([old.id, oldRunning.id]);
      expect(await storage.generations.counts()).to.deep.equal({
        total: 3,
        byState: { queued: 0, running: 0, completed: 2, failed: 1, interrupted: 0 },
      });
    });

    it('a removal that fails stops neither the other removals nor the upload releases, and is reported at the end', async () => {
      const storage = await open();
      const first = makeGeneration({ createdAt: '2020-01-01T00:00:00.000Z', uploads: ['cb_a.png'] });
      const second = makeGeneration({ createdAt: '2020-01-02T00:00:00.000Z' });
      for (const gen of [first, second]) await storage.generations.insert(gen);
      await storage.uploads.insert({ name: 'cb_a.png', clientId: 'client', owner: null, field: 'f', contentType: 'image/png', size: 1, width: 1, height: 1, createdAt: '2020-01-01T00:00:00.000Z', usedBy: [] });
      await storage.uploads.markUsed('cb_a.png', first.id);
      const removed: string[] = [];
      const removeResults = async (id: string) => {
        if (id === first.id) throw new Error('disk says no');
        removed.push(id);
      };

      let failure: unknown;
      await applyRetention(storage.generations, { maxAgeDays: 1, maxRows: null }, removeResults, new Date(), storage.uploads).catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(AggregateError);
      expect((failure as AggregateError).errors.map((e: Error) => e.message)).to.deep.equal(['disk says no']);
      expect(removed).to.deep.equal([second.id]);
      expect(await storage.generations.get(first.id)).to.equal(undefined);
      expect((await storage.uploads.get('cb_a.png'))?.usedBy).to.deep.equal([]);
    });
  });
});
