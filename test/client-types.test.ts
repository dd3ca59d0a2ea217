import { expect } from 'chai';
import { readFile, rm, mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { API_FILE, apiSource, defaultDocument } from '../client/scripts/document.js';
import { startStack, type Stack } from './e2e-support.js';

const CLIENT = fileURLToPath(new URL('../client/', import.meta.url));

/** Builds the SDK as its package.json does (tsc -p client), into `outDir`. */
function build(outDir: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(CLIENT, 'tsconfig.json'), { outDir }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const program = ts.createProgram(config!.fileNames, config!.options);
  const result = program.emit();
  return [...ts.getPreEmitDiagnostics(program), ...result.diagnostics].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('client SDK: generated types and the built package', function () {
  this.timeout(60_000);

  it('client/src/api.ts is what openapi-typescript makes of the current document (run `npm run client:types` if not)', async () => {
    const expected = await apiSource(await defaultDocument());
    const committed = await readFile(API_FILE, 'utf8');
    expect(committed === expected, 'client/src/api.ts drifted from /openapi.json: run `npm run client:types` and commit it').to.equal(true);
  });

  describe('the build', () => {
    let outDir: string;
    let stack: Stack;
    before(async () => {
      // Inside client/, so the built files resolve `ws` the way an installed package would.
      outDir = await mkdtemp(join(CLIENT, '.build-test-'));
      stack = await startStack({});
    });
    after(async () => {
      await stack?.stop();
      if (outDir) await rm(outDir, { recursive: true, force: true });
    });

    it('emits ESM JavaScript and .d.ts with no error, and the built module works on Node', async () => {
      expect(build(outDir)).to.deep.equal([]);
      const files = await readdir(outDir);
      expect(files).to.include.members(['index.js', 'index.d.ts', 'client.js', 'client.d.ts', 'api.d.ts']);
      const built = (await import(pathToFileURL(join(outDir, 'index.js')).href)) as typeof import('../client/src/index.js');
      const client = new built.ComfyBridgeClient<import('../client/src/index.js').AnyWorkflows>({ baseUrl: stack.bridge.url });
      expect((await client.listWorkflows()).map((w) => w.alias)).to.include('sleepy');
      const generation = await client.generate('sleepy', { '1/width': 12 });
      expect((await generation.done()).urls).to.have.length(1);
    });
  });
});
