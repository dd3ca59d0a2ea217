/**
 * A child process for the kill -9 tests of storage-nedb's counts (test/storage-nedb-counts.test.ts).
 * Opens the store on the data dir given as argv[2] and writes generation lives one after another —
 * insert (queued), running, completed — pruning to the newest 5 every 7 lives and compacting every
 * 20, printing `queued <n>` and `completed <n>` once each write has resolved.
 *
 * argv[3], optional, `<lives>:<write>` (write = queued, running or completed): after that many lives,
 * the given write of the next life is the last: its generations datafile line is written (not
 * synced) and the child prints `paused` and writes nothing more to any datafile, so the parent
 * kills it at the point where the counters used to be written next, in another datafile.
 * Without it the child runs until killed.
 */
import { readlinkSync } from 'node:fs';
import type { AppenderIo } from '../../plugins/storage-nedb/datafile-appender.js';
import { NedbStorage } from '../../plugins/storage-nedb/nedb-storage.js';
import { generationRecord } from './generation.js';

const dataDir = process.argv[2] as string;
const [pauseLives, pauseAt] = (process.argv[3] ?? '').split(':');
const say = (line: string): void => void process.stdout.write(`${line}\n`);

let armed = false;
const never = new Promise<never>(() => undefined);
const io: AppenderIo = {
  async write(handle, data, position) {
    if (!armed) return (await handle.write(data, 0, data.length, position)).bytesWritten;
    if (readlinkSync(`/proc/self/fd/${handle.fd}`).endsWith('generations.db')) {
      await handle.write(data, 0, data.length, position);
      say('paused');
    }
    return never;
  },
  datasync: (handle) => handle.datasync(),
};

const storage = await NedbStorage.open({ dataDir, inMemory: false, log: { warn: () => undefined, info: () => undefined }, io });
const newest = (await storage.generations.page({ limit: 1, offset: 0 })).items[0];
let n = newest ? Number(newest.id.slice('kill_'.length)) : 0;
const first = n;
const arm = (write: string): void => {
  if (pauseLives !== undefined && n - first === Number(pauseLives) + 1 && write === pauseAt) armed = true;
};
say('open');
for (;;) {
  n++;
  const id = `kill_${n}`;
  const at = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
  arm('queued');
  await storage.generations.insert(generationRecord({ id, createdAt: at, graph: { '1': { class_type: 'EmptyImage', inputs: { n } } } }));
  say(`queued ${n}`);
  arm('running');
  await storage.generations.update(id, { state: 'running', startedAt: at, percent: 10 });
  arm('completed');
  await storage.generations.update(id, { state: 'completed', finishedAt: at, percent: 100 });
  say(`completed ${n}`);
  if (n % 7 === 0) await storage.generations.prune({ keep: 5 });
  if (n % 20 === 0) await storage.compact();
}
