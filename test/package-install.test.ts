import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { until } from './helpers/until.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));

/** The fenced blocks of docs/writing-a-plugin.md titled with a file name (```js [index.js]), by file name. */
async function templateFiles(): Promise<Map<string, string>> {
  const doc = await readFile(join(REPO, 'docs/writing-a-plugin.md'), 'utf8');
  return new Map([...doc.matchAll(/```\w+ \[([\w.-]+)\]\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]));
}

interface Served {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** `npx comfy-bridge serve` in `cwd`, as a user runs it; resolves once it logged where it listens. */
async function serve(cwd: string, args: string[], env: Record<string, string>): Promise<Served> {
  const child = spawn('npx', ['--no-install', 'comfy-bridge', 'serve', ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npx (npm exec) exits on SIGTERM without passing it to the bridge it started, so
    // `stop` signals the group, or every test would leave a bridge running.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const line = await until(() => output.split('\n').find((l) => l.includes('"msg":"listening"')) ?? (child.exitCode !== null ? `exit ${child.exitCode}` : undefined), 'the installed bridge to listen', 30_000);
  if (line.startsWith('exit')) throw new Error(`the installed bridge exited: ${output}`);
  return { child, url: (JSON.parse(line) as { url: string }).url, output: () => output };
}

/** SIGTERM to npx and the bridge it started; resolves once npx has exited and the bridge's port refuses. */
async function stop(served: Served | undefined): Promise<void> {
  if (!served) return;
  const exited = served.child.exitCode !== null ? Promise.resolve() : once(served.child, 'exit');
  try {
    process.kill(-served.child.pid!, 'SIGTERM');
  } catch {
    // the group is gone already
  }
  await exited;
  await until(() => fetch(`${served.url}/health`).then(() => undefined, () => true), 'the bridge npx started to stop', 15_000);
}

/**
 * The package as a user gets it: `npm pack`, then the container image's install step
 * (scripts/image-install.sh) into an empty folder outside the repository, then `npx comfy-bridge serve`.
 */
describe('the packed package, installed into an empty folder', function () {
  this.timeout(120_000);
  let dir: string;
  let app: string;
  let comfy: FakeComfy;
  let served: Served | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-pack-'));
    app = join(dir, 'app');
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 });
    const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
    await run('sh', [join(REPO, 'scripts/image-install.sh'), tarball, app], { maxBuffer: 16 * 1024 * 1024 });
    comfy = await startFakeComfy();
  });
  afterEach(async () => {
    await stop(served);
    served = undefined;
  });
  after(async () => {
    await comfy?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds compiled JS only, without the dev tools', async () => {
    const installed = join(app, 'node_modules/comfy-bridge');
    expect(existsSync(join(installed, 'dist/cli/main.js'))).to.equal(true);
    expect(existsSync(join(installed, 'core'))).to.equal(false);
    expect(existsSync(join(installed, 'test'))).to.equal(false);
    expect(existsSync(join(app, 'node_modules/tsx'))).to.equal(false);
    expect(existsSync(join(app, 'node_modules/typescript'))).to.equal(false);
    const files = await readdir(join(installed, 'dist/plugins/generate'));
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).to.deep.equal([]);
  });

  it('serves /health on the embedded defaults and passes the image healthcheck on /ready', async () => {
    served = await serve(app, [], { COMFY_BRIDGE_DATA_DIR: join(dir, 'data'), COMFY_BRIDGE_COMFYUI_URLS: comfy.url });
    expect((await fetch(`${served.url}/health`)).status).to.equal(200);
    expect(JSON.stringify(await (await fetch(`${served.url}/workflow-list`)).json())).to.contain('invert-image');
    const openapi = (await (await fetch(`${served.url}/openapi.json`)).json()) as { info: { version: string } };
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(openapi.info.version).to.equal(version);
    expect((await fetch(`${served.url}/docs`)).status).to.equal(200);
    // The playground's script was bundled by the build: the package carries no ui sources.
    const script = await fetch(`${served.url}/playground/app.js`);
    expect(script.status).to.equal(200);
    expect((await script.text()).length).to.be.greaterThan(1000);
    await until(async () => (await fetch(`${served!.url}/ready`)).status === 200, '/ready to answer 200', 15_000);
    const check = await run(process.execPath, [join(app, 'node_modules/comfy-bridge/scripts/healthcheck.mjs')], {
      env: { ...process.env, COMFY_BRIDGE_HEALTHCHECK_URL: `${served.url}/ready` },
    });
    expect(check.stderr).to.equal('');
  });

  it('loads the documented plugin template from a folder outside the repository, by path and by package name', async () => {
    const template = await templateFiles();
    expect([...template.keys()]).to.include.members(['package.json', 'index.js']);
    // By path: a folder beside the config file.
    const pluginDir = join(app, 'plugins/hello');
    await mkdir(pluginDir, { recursive: true });
    for (const [file, text] of template) await writeFile(join(pluginDir, file), text);
    const config = join(app, 'bridge.yaml');
    await writeFile(config, 'pluginModules:\n  - ./plugins/hello/index.js\nplugins:\n  hello:\n    greeting: hi\n');
    served = await serve(app, ['--config', config], { COMFY_BRIDGE_DATA_DIR: join(dir, 'data-path'), COMFY_BRIDGE_COMFYUI_URLS: comfy.url });
    await fetch(`${served.url}/health`);
    const hello = (await (await fetch(`${served.url}/hello?name=ada`)).json()) as { message: string; responses: number };
    expect(hello.message).to.equal('hi, ada');
    expect(hello.responses, 'the onResponse hook counted the /health response').to.be.at.least(1);
    const refused = await fetch(`${served.url}/hello?name=nobody`);
    expect(refused.status).to.equal(400);
    expect(await refused.json()).to.deep.equal({ error: 'bad_request', detail: 'nobody cannot be greeted' });
    expect(served.output()).to.match(/[├└]── hello \d+ ms/);
    await stop(served);

    // By package name, from the folder the bridge starts in; its flag comes from its manifest.
    await mkdir(join(app, 'node_modules/comfy-bridge-plugin-hello'), { recursive: true });
    for (const [file, text] of template) await writeFile(join(app, 'node_modules/comfy-bridge-plugin-hello', file), text);
    const byName = join(app, 'by-name.yaml');
    await writeFile(byName, 'pluginModules:\n  - comfy-bridge-plugin-hello\n');
    served = await serve(app, ['--config', byName, '--greeting', 'hey'], { COMFY_BRIDGE_DATA_DIR: join(dir, 'data-name'), COMFY_BRIDGE_COMFYUI_URLS: comfy.url });
    const named = (await (await fetch(`${served.url}/hello`)).json()) as { message: string };
    expect(named.message).to.equal('hey, world');
  });
});
