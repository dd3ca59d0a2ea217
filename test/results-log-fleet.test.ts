import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { lockKeyOf } from '../plugins/storage-postgres/process-locks.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, startInstance, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { endedOn } from './helpers/serve-process.js';
import { until } from './helpers/until.js';

const HOUR_MS = 3_600_000;
const INSTANCE_LOG = /^results-[0-9a-f]{16}\.wal$/;

/** An instance and everything it logged since it started. */
interface Watched extends Instance {
  output(): string;
}

/** A completed generation's result: its path on the bridge and its bytes as served. */
interface Result {
  path: string;
  bytes: Buffer;
}

/**
 * Each instance of a fleet on PostgreSQL writes a results log of its own in the shared data dir, its name held as a
 * PostgreSQL session advisory lock for the process's life. Instances whose files' own syncs wait an hour (the results
 * option fileSyncDelayMs) stand for instances killed between the log's sync and the files': SIGKILLed once
 * generations completed, their files cut or removed as a power loss would leave them, a survivor replays their log
 * within its period (deadLogCheckMs), serves the files byte for byte and removes the log; the log of a live
 * instance is left alone; an instance that loses its lock connection stops writing its log.
 */
describe('results write-ahead logs in a fleet: one per instance, a dead one replayed by a survivor', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let data: string;
  let fake: FakeComfy;
  let heldConfig: string;
  let survivorConfig: string;
  const running: Instance[] = [];

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'results-log-fleet-'));
    data = join(dir, 'data');
    await mkdir(data);
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    const backends = [fake.url];
    heldConfig = join(dir, 'held.yaml');
    await rename(await writeFleetConfig(dir, { databaseUrl: db.url, backends, plugins: { results: { fileSyncDelayMs: HOUR_MS } } }), heldConfig);
    survivorConfig = await writeFleetConfig(dir, { databaseUrl: db.url, backends, plugins: { results: { deadLogCheckMs: 1000 } } });
  });

  after(async () => {
    await Promise.all(running.map((instance) => kill(instance)));
    await fake?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const logs = async (): Promise<string[]> => (await readdir(data)).filter((name) => INSTANCE_LOG.test(name));

  /** Starts an instance; resolves with it and the name of the log it made. */
  async function start(config: string): Promise<{ instance: Watched; log: string }> {
    const before = new Set(await logs());
    const started = await startInstance(config);
    running.push(started);
    let output = '';
    for (const stream of [started.child.stdout!, started.child.stderr!]) stream.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    const instance = { ...started, output: () => output };
    const log = await until(async () => (await logs()).find((name) => !before.has(name)), 'the instance to make its results log', 30_000);
    return { instance, log };
  }

  async function generate(instance: Instance, clientId: string): Promise<Result> {
    const res = await fetch(`${instance.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 1, '3/seed': Math.floor(Math.random() * 1e9) }),
    });
    expect(res.status).to.equal(200);
    const { id } = (await res.json()) as { id: string };
    const end = await endedOn(instance.url, id, 'the generation to complete', 30_000);
    expect(end.data.state).to.equal('completed');
    const url = end.data.result_urls[0]!;
    const served = await fetch(url);
    expect(served.status).to.equal(200);
    return { path: new URL(url).pathname, bytes: Buffer.from(await served.arrayBuffer()) };
  }

  const fileOf = (result: Result) => join(data, ...result.path.split('/').slice(1).map(decodeURIComponent));
  const hasRecords = async (log: string) => (await readFile(join(data, log))).some((byte) => byte !== 0);
  /** What `instance` serves at `result.path` equals the result's bytes. */
  const servesSame = async (instance: Instance, result: Result) => {
    const res = await fetch(`${instance.url}${result.path}`).catch(() => undefined);
    return res?.status === 200 && Buffer.from(await res.arrayBuffer()).equals(result.bytes);
  };

  it('an instance that loses the connection holding its log name writes its log no more', async () => {
    const { instance, log } = await start(heldConfig);
    await generate(instance, 'fleet-log-lost-a');
    expect(await hasRecords(log), 'the first result logged').to.equal(true);
    const watcher = new pg.Client({ connectionString: db.url });
    await watcher.connect();
    try {
      // The session holding the log's name, ended by the server (as when its network goes).
      const { rows } = await watcher.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1::bigint`,
        [lockKeyOf(log)],
      );
      expect(rows).to.have.length(1);
      await watcher.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    } finally {
      await watcher.end();
    }
    await until(async () => instance.output().includes("lost the hold on this instance's results log") || undefined, 'the instance to notice', 30_000);
    const before = await readFile(join(data, log));
    const after = await generate(instance, 'fleet-log-lost-b');
    expect((await readFile(join(data, log))).equals(before), 'no record appended after the hold was lost').to.equal(true);
    // Its file synced before its row instead: there, byte for byte.
    expect((await readFile(fileOf(after))).equals(after.bytes)).to.equal(true);
    await kill(instance);
  });

  it('a survivor replays the log of an instance SIGKILLed before its files were synced, within its period, byte for byte', async () => {
    const { instance: survivor, log: survivorLog } = await start(survivorConfig);
    const { instance: victim, log } = await start(heldConfig);
    const cut = await generate(victim, 'fleet-log-kill-a');
    const gone = await generate(victim, 'fleet-log-kill-b');
    expect(await hasRecords(log), 'the results logged by the victim').to.equal(true);
    // What a power loss leaves of files not synced yet: one empty, one gone. Cut before the kill (the victim never
    // syncs them: an hour away), so that no look of the survivor's comes between the kill and the cut.
    await truncate(fileOf(cut), 0);
    await rm(fileOf(gone));
    await kill(victim);
    expect(victim.child.signalCode).to.equal('SIGKILL');

    for (const result of [cut, gone]) {
      await until(async () => (await servesSame(survivor, result)) || undefined, `the survivor to serve ${result.path} byte for byte`, 30_000);
      expect((await readFile(fileOf(result))).equals(result.bytes), 'on the disk byte for byte').to.equal(true);
    }
    await until(async () => !(await logs()).includes(log) || undefined, "the dead instance's log to be removed", 30_000);
    expect(await logs()).to.include(survivorLog);
    // Stopped, an instance removes its own log (its files synced first).
    await kill(survivor, 'SIGTERM');
    expect(await logs()).not.to.include(survivorLog);
  });

  it('never replays the log of a live instance', async () => {
    const { instance: survivor } = await start(survivorConfig);
    const { instance: alive, log: aliveLog } = await start(heldConfig);
    const { instance: victim, log: victimLog } = await start(heldConfig);
    const probe = await generate(alive, 'fleet-log-alive');
    const lost = await generate(victim, 'fleet-log-dead');
    expect(await hasRecords(aliveLog), 'the live instance logged its result').to.equal(true);
    const aliveBytes = await readFile(join(data, aliveLog));
    // Cut on the disk though its instance lives: a replay of its log would write it back.
    await truncate(fileOf(probe), 0);
    await truncate(fileOf(lost), 0);
    await kill(victim);

    // The survivor's look that replays the dead log tried every log there (it reports once all were tried).
    const line = await until(
      async () => survivor.output().split('\n').find((entry) => entry.includes(victimLog) && entry.includes('were replayed and removed')),
      "the survivor to replay the dead instance's log",
      30_000,
    );
    expect((JSON.parse(line) as { live: number }).live).to.be.at.least(1);
    await until(async () => (await servesSame(survivor, lost)) || undefined, 'the dead instance\'s result served byte for byte', 30_000);
    expect(await logs()).to.include(aliveLog);
    expect((await readFile(join(data, aliveLog))).equals(aliveBytes), "the live instance's log untouched").to.equal(true);
    expect((await readFile(fileOf(probe))).length, "the live instance's file not rewritten").to.equal(0);
    await Promise.all([kill(survivor, 'SIGTERM'), kill(alive)]);
  });
});
