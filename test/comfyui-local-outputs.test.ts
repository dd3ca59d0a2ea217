import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Graph } from '../contracts/graph.js';
import { LocalOutputs } from '../plugins/comfyui/local-outputs.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { probePlugin, until, type Probe } from './generations-stub-transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

/** One image saved (type output) and the same image previewed (type temp). */
const SAVED_AND_PREVIEWED: Graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 4242 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'local/kept' } },
  '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
};

interface LogLine {
  level: number;
  msg: string;
  folder?: string;
}

/**
 * A backend's output and temp folders readable here (options outputDir, tempDir): outputs are read from them, not
 * fetched with GET /view, byte for byte the same; anything not plainly there is fetched over HTTP as before.
 */
describe('comfyui: outputs read from the backend folders this machine sees', function () {
  this.timeout(20_000);
  let fake: FakeComfy;
  let bridge: RunningBridge | undefined;
  let empty: string;
  let lines: LogLine[];

  async function start(folders: { outputDir?: string; tempDir?: string }): Promise<Probe> {
    const probe: Probe = {};
    lines = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: { backends: [{ url: fake.url, name: 'fake', ...folders }], reconnect: { initialMs: 20, maxMs: 100, jitter: 0 }, requestTimeoutMs: 2000 },
        generations: {},
        results: {},
      },
      extraPlugins: [probePlugin(probe)],
      log,
    });
    await until(() => probe.transport!.pickBackend(), 'the fake backend to be up');
    return probe;
  }

  /** Runs the graph to its end; the stored result files with the bytes the bridge serves and the fake wrote. */
  async function run(probe: Probe) {
    const gen = await probe.generations!.create({ workflow: 'test', clientId: 'client-a', principal: ANONYMOUS, graph: SAVED_AND_PREVIEWED, uploads: {} });
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.state).to.equal('completed');
    expect(end.results).to.have.length(2);
    const files = [];
    for (const result of end.results) {
      const served = await fetch(probe.results!.url(end.id, result.filename));
      expect(served.status).to.equal(200);
      expect(served.headers.get('content-type')).to.equal('image/png');
      const folder = result.node === '2' ? join(fake.dirs.outputDir, 'local') : fake.dirs.tempDir;
      files.push({ ...result, served: Buffer.from(await served.arrayBuffer()), written: await readFile(join(folder, result.filename)) });
    }
    return files;
  }

  beforeEach(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 1 });
    empty = await mkdtemp(join(tmpdir(), 'cb-empty-outputs-'));
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await fake.stop();
    await rm(empty, { recursive: true, force: true });
  });

  it('reads saved and previewed outputs from the output and temp folders: the same bytes, no GET /view', async () => {
    const probe = await start({ outputDir: fake.dirs.outputDir, tempDir: fake.dirs.tempDir });
    const files = await run(probe);
    for (const file of files) {
      expect(file.served.equals(file.written)).to.equal(true);
      expect(file.size).to.equal(file.written.length);
    }
    expect(fake.views).to.deep.equal([]);
    expect(lines.filter((line) => line.level >= 40)).to.deep.equal([]);
  });

  it('fetches with GET /view the outputs of a type without a folder here', async () => {
    const probe = await start({ outputDir: fake.dirs.outputDir });
    const files = await run(probe);
    for (const file of files) expect(file.served.equals(file.written)).to.equal(true);
    const previewed = files.find((file) => file.node === '3')!;
    expect(fake.views).to.deep.equal([previewed.filename]);
  });

  it('fetches over HTTP a file the configured folder does not hold, and warns once for that folder', async () => {
    const probe = await start({ outputDir: empty });
    const first = await run(probe);
    const second = await run(probe);
    for (const file of [...first, ...second]) expect(file.served.equals(file.written)).to.equal(true);
    expect(fake.views).to.have.length(4);
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).to.have.length(1);
    expect(warnings[0]!.folder).to.equal(empty);
    expect(warnings[0]!.msg).to.contain('fetched over HTTP instead');
  });

  it('reads only names GET /view would serve, inside the folder', () => {
    const outputs = new LocalOutputs({ output: '/srv/comfy/output' }, 'fake', pino({ level: 'silent' }));
    const at = (filename: string, subfolder = '', type = 'output') => outputs.pathOf({ filename, subfolder, type });
    expect(at('a.png')).to.equal('/srv/comfy/output/a.png');
    expect(at('a.png', 'x/y')).to.equal('/srv/comfy/output/x/y/a.png');
    expect(at('a.png', 'x/../y')).to.equal('/srv/comfy/output/y/a.png');
    expect(at('a.png', '', 'temp')).to.equal(undefined); // no temp folder here
    expect(at('a.png', '', 'input')).to.equal(undefined);
    expect(at('')).to.equal(undefined);
    expect(at('/etc/passwd')).to.equal(undefined);
    expect(at('../secret.png')).to.equal(undefined);
    expect(at('a..png')).to.equal(undefined); // /view refuses any '..' in the name
    expect(at('a.png', '../other')).to.equal(undefined);
    expect(at('a.png', '/etc')).to.equal(undefined);
    expect(at('a.png', '../output-not')).to.equal(undefined);
    expect(at('a\0.png')).to.equal(undefined);
  });
});
