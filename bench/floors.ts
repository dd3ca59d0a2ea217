/**
 * The floors under a generation's end on this machine, each alone, to set beside what the bridge adds (P9):
 * appending a row line and fdatasync-ing it (the final state before `closed`), creating a result file in a new
 * folder (mkdir, exclusive create, write, close, rename), making it durable (fdatasync, fsync of its folder and of the
 * folder's parent: each alone, then all of it together), the same bytes written into zeros synced beforehand (a pack
 * of results, wave 11), and a kept-alive loopback GET of a small body (GET /view).
 * Run: `npx tsx bench/floors.ts [dir]` (dir: a folder on the file system to measure, the benches' scratch folder
 * by default, bench/lib/scratch.ts); prints p50 and p95 in ms as JSON. Not part of `npm run bench`: a diagnostic for the lifecycle work.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { Agent, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { scratchDirSync } from './lib/scratch.js';

const RUNS = 300;
const dir = process.argv[2] ? mkdtempSync(join(process.argv[2], 'cb-floors-')) : scratchDirSync('cb-floors-');

function stats(samples: number[]): { p50: number; p95: number } {
  samples.sort((a, b) => a - b);
  const at = (q: number) => Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]! * 1000) / 1000;
  return { p50: at(0.5), p95: at(0.95) };
}

function timed(run: (i: number) => void): number[] {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    run(i);
    samples.push(performance.now() - started);
  }
  return samples;
}

try {
  // A final row's line, about the size storage-nedb appends for a completed generation.
  const line = Buffer.from(`${JSON.stringify({ _id: 'gen_x', state: 'completed', results: [{ filename: 'p9_00001_.png', size: 9000 }], pad: 'x'.repeat(500) })}\n`);
  const datafile = openSync(join(dir, 'generations.db'), 'a');
  const append = timed(() => {
    writeSync(datafile, line);
    fdatasyncSync(datafile);
  });
  closeSync(datafile);

  const body = Buffer.alloc(9000, 7);
  const create = timed((i) => {
    const folder = join(dir, `gen_${i}`);
    mkdirSync(folder);
    const file = openSync(join(folder, '.part'), 'wx');
    writeSync(file, body);
    closeSync(file);
    renameSync(join(folder, '.part'), join(folder, 'p9_00001_.png'));
  });

  // What making that file durable costs, call by call (issue 15's durability rule, wave 10), each in a fresh folder
  // as a generation's: the new file's data (fdatasync), its name after the rename (fsync of its folder), the new
  // folder's entry (fsync of the parent), and the three together in the order the directory store makes them.
  const parent = join(dir, 'durable');
  mkdirSync(parent);
  const fresh = (i: number, tag: string): { folder: string; fd: number } => {
    const folder = join(parent, `${tag}_${i}`);
    mkdirSync(folder);
    const fd = openSync(join(folder, '.part'), 'wx');
    writeSync(fd, body);
    renameSync(join(folder, '.part'), join(folder, 'p9_00001_.png'));
    return { folder, fd };
  };
  const syncDir = (folder: string) => {
    const fd = openSync(folder, 'r');
    fsyncSync(fd);
    closeSync(fd);
  };
  const fileData: number[] = [];
  const folderName: number[] = [];
  const parentEntry: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { folder, fd } = fresh(i, 'calls');
    let started = performance.now();
    fdatasyncSync(fd);
    fileData.push(performance.now() - started);
    closeSync(fd);
    started = performance.now();
    syncDir(folder);
    folderName.push(performance.now() - started);
    started = performance.now();
    syncDir(parent);
    parentEntry.push(performance.now() - started);
  }
  const durable = timed((i) => {
    const { folder, fd } = fresh(i, 'all');
    syncDir(parent);
    fdatasyncSync(fd);
    closeSync(fd);
    syncDir(folder);
  });

  // What a result written into space made beforehand would cost (the "pool or pack" lead of wave 10, weighed in
  // wave 11): a file of zeros written and synced ahead (as storage-nedb's datafile tail), each result then written
  // at its own block-aligned offset and fdatasynced. No size, block map or name changes, so no journal commit.
  const slotBytes = Math.ceil(body.length / 4096) * 4096;
  const pack = openSync(join(dir, 'results.pack'), 'w+');
  writeSync(pack, Buffer.alloc(slotBytes * RUNS));
  fdatasyncSync(pack);
  syncDir(dir);
  const intoPack = timed((i) => {
    writeSync(pack, body, 0, body.length, i * slotBytes);
    fdatasyncSync(pack);
  });
  closeSync(pack);

  const server = createServer((_req, res) => res.end(body)).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true });
  const fetchOnce = () =>
    new Promise<void>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/view', agent }, (res) => {
        res.resume();
        res.once('end', resolve);
      }).once('error', reject);
    });
  for (let i = 0; i < 50; i++) await fetchOnce(); // warm-up: the socket, the parser
  const loopback: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await fetchOnce();
    loopback.push(performance.now() - started);
  }
  agent.destroy();
  server.close();

  process.stdout.write(
    `${JSON.stringify({ append_and_fdatasync_ms: stats(append), result_file_in_new_folder_ms: stats(create),
      new_file_fdatasync_ms: stats(fileData),
      folder_fsync_after_rename_ms: stats(folderName),
      parent_fsync_after_mkdir_ms: stats(parentEntry),
      result_file_made_durable_ms: stats(durable),
      result_into_synced_zeros_fdatasync_ms: stats(intoPack),
      loopback_get_9kb_ms: stats(loopback), dir })}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
