import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const BIN = new URL('../bin/comfy-bridge.js', import.meta.url).pathname;
const run = promisify(execFile);

/**
 * The compiled CLI (bin/comfy-bridge.js runs dist/ once `npm run build` made it; `npm test` builds first) imports
 * only the built-in plugins its config can need: enabled ones, and those declaring a variable that is set, a flag
 * that is given or a choice the config makes (the build's snapshot, dist/plugin-settings.json, says which).
 * A loader hook prints every plugin index module the process imports.
 */
describe('which built-in plugins the CLI imports to read its config', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-imports-'));
    await writeFile(join(dir, 'hooks.mjs'), "export async function load(url, context, next) { if (/\\/plugins\\/[a-z0-9-]+\\/index\\.[jt]s$/.test(url)) process.stderr.write(`IMPORTED ${url.split('/').at(-2)}\\n`); return next(url, context); }\n");
    await writeFile(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
    await writeFile(join(dir, 'postgres.yaml'), 'storage: postgres\nplugins:\n  storage-postgres:\n    url: postgres://nobody@127.0.0.1:1/none\n  bus-postgres:\n    url: postgres://nobody@127.0.0.1:1/none\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** `config check` (reads the config as serve does, connects to nothing): the plugins it enables and imports. */
  async function check(args: string[], env: Record<string, string> = {}): Promise<{ enabled: string[]; imported: string[] }> {
    const { stderr } = await run(process.execPath, ['--import', join(dir, 'register.mjs'), BIN, 'config', 'check', ...args], { cwd: dir, env: { PATH: process.env.PATH, ...env } });
    const enabled = /config ok: \d+ plugins \(([^)]*)\)/.exec(stderr)?.[1]?.split(', ') ?? [];
    const imported = [...stderr.matchAll(/^IMPORTED (\S+)$/gm)].map((m) => m[1]!);
    return { enabled: enabled.sort(), imported: [...new Set(imported)].sort() };
  }

  it('on the defaults: the enabled plugins, not the disabled ones (no pg for a start on nedb)', async () => {
    const { enabled, imported } = await check([]);
    expect(enabled).to.include.members(['storage-nedb', 'bus', 'comfyui']);
    expect(imported).to.deep.equal(enabled);
    expect(imported).to.not.include.members(['storage-postgres']);
  });

  it('imports a plugin whose variable is set, and what the variable switches on and off follows', async () => {
    const { enabled, imported } = await check([], { COMFY_BRIDGE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', COMFY_BRIDGE_API_KEYS: 'sk-test-000000000000:one' });
    expect(enabled).to.include.members(['storage-postgres', 'bus-postgres', 'auth']);
    expect(enabled).to.not.include.members(['storage-nedb']);
    expect(imported).to.include.members(enabled);
  });

  it('imports the plugins a choice names, so `storage: postgres` works from a file', async () => {
    const { enabled, imported } = await check(['--config', join(dir, 'postgres.yaml')]);
    expect(enabled).to.include.members(['storage-postgres', 'bus-postgres']);
    expect(enabled).to.not.include.members(['storage-nedb', 'bus']);
    expect(imported).to.include.members(['storage-postgres', 'bus-postgres', 'storage-nedb']);
  });
});
