import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keepTickShape, keptTickObject } from '../lib/keep-tick-shape.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A real node process: bursts of ticks with full collections between them (no tick object alive then, as between
 * bursts of requests), then V8's feedback for the property stores of nextTick's object literal, read with
 * %DebugPrint. Returns the state of each store (the literal has four: two symbols, callback, args).
 */
async function tickLiteralStates(kernelBuilt: boolean): Promise<string[]> {
  const module = (path: string) => `tsImport(${JSON.stringify(fileURLToPath(new URL(path, import.meta.url)))}, import.meta.url)`;
  // The .ts modules through tsx's API: the child itself runs plain node (no loader flag).
  const script = `
    const { tsImport } = await import('tsx/esm/api');
    const [{ kernel }, { createHooks }, { RouteTable }, { default: pino }] = await Promise.all([${module('../core/http/kernel.ts')}, ${module('../core/hooks.ts')}, ${module('../core/http/routes.ts')}, import('pino')]);
    const hooks = createHooks();
    if (${kernelBuilt}) kernel(pino({ level: 'silent' }), hooks, 1024, new RouteTable(hooks));
    const burst = () => new Promise((resolve) => { let n = 0; const next = () => (++n < 2000 ? process.nextTick(next, n) : resolve()); process.nextTick(next); });
    for (let round = 0; round < 12; round++) {
      await burst();
      await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < 4; i++) globalThis.gc();
    }
    %DebugPrint(process.nextTick);`;
  // V8 prints to the C stdout: into a pipe the end of it was lost at exit, into a file it arrives whole.
  const dir = await mkdtemp(join(tmpdir(), 'cb-tick-shape-'));
  try {
    const out = await open(join(dir, 'stdout'), 'w');
    const child = spawn(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '--eval', script], { cwd: ROOT, stdio: ['ignore', out.fd, 'inherit'] });
    const [code] = (await once(child, 'exit')) as [number | null];
    await out.close();
    expect(code, 'the child exits cleanly').to.equal(0);
    const printed = await readFile(join(dir, 'stdout'), 'utf8');
    return [...printed.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((match) => match[1]!);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('keepTickShape (a fast nextTick for the life of the process)', () => {
  it("once the kernel is built, nextTick's object literal stays monomorphic through full collections that find no tick alive", async () => {
    expect(await tickLiteralStates(true)).to.deep.equal(['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC']);
  });

  it('without it, the same collections leave the literal megamorphic (the slow state the kernel avoids)', async () => {
    const states = await tickLiteralStates(false);
    expect(states).to.have.length(4);
    expect(states).to.include('MEGAMORPHIC');
  });

  it("holds one of Node's own tick objects, the same one on every call", () => {
    keepTickShape();
    const kept = keptTickObject();
    expect(kept).to.have.property('callback').that.is.a('function');
    expect(kept).to.have.property('args');
    expect(Object.getOwnPropertySymbols(kept).map(String)).to.deep.equal(['Symbol(async_id_symbol)', 'Symbol(trigger_async_id_symbol)']);
    keepTickShape();
    expect(keptTickObject()).to.equal(kept);
  });
});
