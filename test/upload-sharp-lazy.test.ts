import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Run in a fresh process (this one has sharp loaded by other tests): whether sharp's native module
 * (libvips) is among the process's shared objects after importing the upload plugin, and after its first use.
 */
const SCRIPT = `
const loaded = () => process.report.getReport().sharedObjects.some((path) => /sharp|vips/.test(path));
await import('./plugins/upload/index.ts');
const afterImport = loaded();
const { loadSharp } = await import('./plugins/upload/sharp.ts');
const sharp = await loadSharp();
console.log(JSON.stringify({ afterImport, afterUse: loaded(), same: sharp === (await loadSharp()), isFunction: typeof sharp === 'function' }));
`;

describe('upload: sharp is loaded at its first use, not at start', () => {
  it('importing the upload plugin does not load sharp; loadSharp does, once', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { cwd: root });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).to.deep.equal({ afterImport: false, afterUse: true, same: true, isFunction: true });
  });
});
