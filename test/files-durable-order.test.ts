import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { generateCompleted, killAll, serveBridge, type ServedBridge } from './helpers/serve-process.js';
import { until } from './helpers/until.js';
import { makePng } from './upload-images.js';
import { form, postUpload } from './upload-support.js';

/**
 * A power loss cannot be made here, so this proves the order of the system calls a real bridge makes (strace
 * around `comfy-bridge serve`): a result file's bytes are synced (in the results write-ahead log) before the row that
 * names it is written, the file's own data and name synced after, and an upload's are synced before its answer (after its record, so that a crash leaves at
 * worst a record without a file, which expiry removes, never a file nobody knows of).
 */

/** One system call as strace -f -y printed it: where it began and where it returned, in the trace's order. */
interface Call {
  name: string;
  /** Its arguments as printed, fds with their paths (-y): `12</data/results/gen_x/a.png>`. */
  args: string;
  result: string;
  began: number;
  ended: number;
}

/** The calls of `strace -f -o` output, a call cut by another thread's (`<unfinished ...>` … `<... resumed>`) joined again. */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  text.split('\n').forEach((line, index) => {
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$/.exec(line);
    if (resumed) {
      const call = open.get(resumed[1]!);
      if (!call) return;
      open.delete(resumed[1]!);
      const [args, result] = split(resumed[3]!);
      call.args += args;
      call.result = result;
      call.ended = index;
      return;
    }
    const started = /^(\d+)\s+(\w+)\((.*)$/.exec(line);
    if (!started) return;
    const [, pid, name, rest] = started as unknown as [string, string, string, string];
    const call: Call = { name, args: '', result: '?', began: index, ended: index };
    calls.push(call);
    if (rest.endsWith('<unfinished ...>')) {
      call.args = rest.slice(0, -'<unfinished ...>'.length);
      open.set(pid, call);
      return;
    }
    [call.args, call.result] = split(rest);
  });
  return calls;
}

/** `args) = result` (strace pads a resumed call's `=` with spaces) → [args, result]. */
function split(rest: string): [string, string] {
  const end = /\)\s+= (.*)$/.exec(rest);
  return end ? [rest.slice(0, end.index), end[1]!] : [rest, '?'];
}

/** The first argument's path, for a call on an fd (`fdatasync(12</a/b>)` → `/a/b`). */
const fdPath = (call: Call): string | undefined => /^\d+<([^>]*)>/.exec(call.args)?.[1];

function only(calls: Call[], what: string): Call {
  expect(calls, what).to.have.length.greaterThan(0);
  return calls[0]!;
}

const WRITES = new Set(['write', 'pwrite64', 'writev', 'pwritev']);
/** A write into one of storage-nedb's datafiles (<dataDir>/db/) that holds `text`. */
const datafileWrite = (c: Call, ...texts: string[]): boolean => WRITES.has(c.name) && fdPath(c)?.includes('/db/') === true && texts.every((text) => c.args.includes(text));

const TRACED = 'openat,write,pwrite64,pwritev,writev,fdatasync,fsync,rename,renameat,renameat2,mkdir,mkdirat';

describe('files durable before they are acknowledged: the order of a real bridge\'s system calls (strace)', function () {
  this.timeout(60_000);
  let fake: FakeComfy;
  let dir: string;
  const running: ServedBridge[] = [];

  before(async function () {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      throw new Error('strace is needed by this test (apt-get install strace; .ci/run installs it)');
    }
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    dir = await mkdtemp(join(tmpdir(), 'files-durable-'));
  });
  after(async () => {
    await killAll(running);
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** One upload and one generation through a bridge run under strace (`config`: its --config file's text); its calls once it stopped. */
  async function traced(tag: string, config?: string): Promise<{ calls: Call[]; dataDir: string; name: string; id: string }> {
    const dataDir = join(dir, tag);
    const tracePath = join(dir, `${tag}.trace`);
    const args: string[] = [];
    if (config !== undefined) {
      await writeFile(join(dir, `${tag}.yaml`), config);
      args.push('--config', join(dir, `${tag}.yaml`));
    }
    const bridge = await serveBridge({
      wrap: ['strace', '-f', '-qq', '-y', '-s', '4096', '-e', `trace=${TRACED}`, '-o', tracePath],
      args,
      env: { COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: fake.url },
    });
    running.push(bridge);
    await until(async () => (await fetch(`${bridge.url}/ready`).catch(() => undefined))?.status === 200, 'the bridge to be ready', 20_000);

    const uploaded = await postUpload(bridge.url, form([{ field: 'image', bytes: makePng(8, 8) }]));
    expect(uploaded.status).to.equal(200);
    const name = uploaded.body.image as string;

    const { id } = (await generateCompleted(bridge.url, 'durable-client')).data;

    // The bridge itself, not strace (which would detach and leave it running): strace exits once it has.
    const tracer = bridge.child.pid!;
    const pid = Number((await readFile(`/proc/${tracer}/task/${tracer}/children`, 'utf8')).trim().split(' ')[0]);
    expect(pid).to.be.greaterThan(0);
    process.kill(pid, 'SIGTERM');
    expect(await bridge.exited).to.equal(0);
    return { calls: parseTrace(await readFile(tracePath, 'utf8')), dataDir, name, id };
  }


  it('syncs an upload\'s data and name before its answer, and a result\'s bytes (its log record) before its completed row', async () => {
    const { calls, dataDir, name, id } = await traced('synced');
    // The upload: its record written and synced, then the file renamed into uploads/ and the folder synced, then
    // the answer; the file's data synced before the rename (while the record was written).
    const uploads = join(dataDir, 'uploads');
    const moved = only(calls.filter((c) => c.name.startsWith('rename') && c.args.includes(`"${uploads}/${name}"`)), 'the upload renamed into uploads/');
    const incoming = /^"([^"]+)"/.exec(moved.args)![1]!;
    const dataSync = only(calls.filter((c) => c.name === 'fdatasync' && (fdPath(c) === incoming || fdPath(c) === `${uploads}/${name}`)), 'the upload file fdatasynced');
    const recordWrite = only(calls.filter((c) => datafileWrite(c, name)), "the upload record's datafile write");
    const recordSync = only(calls.filter((c) => c.name === 'fdatasync' && fdPath(c) === fdPath(recordWrite) && c.began > recordWrite.ended), "the record's datafile synced");
    const folderSync = only(calls.filter((c) => c.name === 'fsync' && fdPath(c) === uploads && c.began > moved.ended), 'uploads/ fsynced after the rename');
    const answer = only(calls.filter((c) => /^writev?$/.test(c.name) && /^\d+<(TCP|socket)/.test(c.args) && c.args.includes('HTTP/1.1 200') && c.args.includes(name)), 'the upload answered');
    expect(dataSync.ended, 'the upload data synced before its rename').to.be.lessThan(moved.began);
    expect(recordSync.ended, 'the record durable before the file appears').to.be.lessThan(moved.began);
    expect(folderSync.ended, 'uploads/ synced before the answer').to.be.lessThan(answer.began);
    expect(dataSync.result).to.equal('0');
    expect(folderSync.result).to.equal('0');

    // The result: its folder made and results/ synced while the prompt ran; at the end its bytes appended to the
    // write-ahead log (results.wal, a key's record) and the log fdatasynced, all before the completed row's write.
    // The file itself, renamed into place beside it while the log syncs, has its data and its folder synced after.
    const folder = join(dataDir, 'results', id);
    const made = only(calls.filter((c) => c.name.startsWith('mkdir') && c.args.includes(`"${folder}"`)), 'the result folder made');
    const placed = only(calls.filter((c) => c.name.startsWith('rename') && new RegExp(`"${folder}/[^".][^"]*"\\)?$`).test(c.args)), 'the result file renamed into place');
    const file = /, "([^"]+)"\)?$/.exec(placed.args)![1]!;
    const key = `results/${id}/${file.slice(folder.length + 1)}`;
    const row = only(
      calls.filter((c) => datafileWrite(c, id, 'state\\":\\"completed')),
      "the completed row's datafile write",
    );
    const log = join(dataDir, 'results.wal');
    const logWrite = only(calls.filter((c) => WRITES.has(c.name) && fdPath(c) === log && c.args.includes(`{\\"key\\":\\"${key}\\"}`)), "the result's record written to the log");
    const logSync = only(calls.filter((c) => c.name === 'fdatasync' && fdPath(c) === log && c.began > logWrite.ended), 'the log fdatasynced after the record');
    const fileSync = only(calls.filter((c) => (c.name === 'fdatasync' || c.name === 'fsync') && fdPath(c) === file), 'the result file synced');
    const resultFolderSync = only(calls.filter((c) => c.name === 'fsync' && fdPath(c) === folder && c.began > placed.ended), 'results/<id>/ fsynced after the rename');
    const resultsSync = only(calls.filter((c) => c.name === 'fsync' && fdPath(c) === join(dataDir, 'results') && c.began > made.ended), 'results/ fsynced after the folder was made');
    expect(logSync.ended, 'the record durable before the completed row').to.be.lessThan(row.began);
    expect(logSync.result).to.equal('0');
    expect(resultsSync.ended, "its folder's name synced before the completed row").to.be.lessThan(row.began);
    expect(fileSync.began, 'the file itself synced, after its record').to.be.greaterThan(logSync.began);
    expect(resultFolderSync.began, 'and its name after its data').to.be.greaterThan(fileSync.ended);
  });

  it('syncs a result file and its name before its completed row when there is no log (results logBytes: 0)', async () => {
    const { calls, dataDir, id } = await traced('nolog', 'plugins:\n  results:\n    logBytes: 0\n');
    const folder = join(dataDir, 'results', id);
    const placed = only(calls.filter((c) => c.name.startsWith('rename') && new RegExp(`"${folder}/[^".][^"]*"\\)?$`).test(c.args)), 'the result file renamed into place');
    const file = /, "([^"]+)"\)?$/.exec(placed.args)![1]!;
    const row = only(calls.filter((c) => datafileWrite(c, id, 'state\\":\\"completed')), "the completed row's datafile write");
    const fileSync = only(calls.filter((c) => (c.name === 'fdatasync' || c.name === 'fsync') && fdPath(c) === file), 'the result file synced');
    const resultFolderSync = only(calls.filter((c) => c.name === 'fsync' && fdPath(c) === folder && c.began > placed.ended), 'results/<id>/ fsynced after the rename');
    expect(calls.some((c) => fdPath(c) === join(dataDir, 'results.wal')), 'no results log').to.equal(false);
    expect(fileSync.ended, 'the result data synced before the completed row').to.be.lessThan(row.began);
    expect(resultFolderSync.ended, 'its name synced before the completed row').to.be.lessThan(row.began);
  });

  it('syncs neither when the storage does not sync its rows (storage-nedb syncWrites: false)', async () => {
    const { calls, dataDir, name, id } = await traced('unsynced', "plugins:\n  storage-nedb:\n    syncWrites: false\n");
    const files = [join(dataDir, 'uploads'), join(dataDir, 'results')];
    expect(calls.some((c) => fdPath(c) === join(dataDir, 'results.wal')), 'no results log').to.equal(false);
    // The upload and the result did go where they belong…
    expect(calls.some((c) => c.name.startsWith('rename') && c.args.includes(`/uploads/${name}"`))).to.equal(true);
    expect(calls.some((c) => c.name.startsWith('rename') && c.args.includes(`/results/${id}/`))).to.equal(true);
    // …and nothing under uploads/ or results/, nor those folders themselves, was synced.
    const synced = calls.filter((c) => (c.name === 'fsync' || c.name === 'fdatasync') && files.some((folder) => fdPath(c)?.startsWith(folder) === true));
    expect(synced.map((c) => `${c.name} ${fdPath(c)}`)).to.deep.equal([]);
  });
});
