import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, Type } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import { createAjv } from '../core/config/ajv.js';
import { kernelSchema } from '../core/config/schema.js';
import { knownManifests } from '../core/loader/resolve.js';

/**
 * `npm run build` compiles the kernel config schema and every built-in plugin's options schema once
 * (dist/validators.js), so a start does not generate ajv code for them. These validators must be the
 * ones ajv compiles at run time from the same sources: same verdict, same defaults applied, same errors.
 * (`npm test` builds before it runs the tests.)
 */
const BUILT = new URL('../dist/validators.js', import.meta.url);

describe('what the build makes for a faster start (dist/validators.js, dist/vendor/)', function () {
  this.timeout(60_000);
  let built: Map<string, ValidateFunction>;
  const schemas: [string, object][] = [];

  before(async () => {
    expect(existsSync(BUILT), 'dist/validators.js (run `npm run build`)').to.equal(true);
    built = ((await import(BUILT.href)) as { validators: Map<string, ValidateFunction> }).validators;
    schemas.push(['kernel config', kernelSchema]);
    for (const manifest of await knownManifests([])) if (manifest.options) schemas.push([`plugin ${manifest.name}`, manifest.options as object]);
  });

  it('holds one for the kernel schema and each built-in plugin with options, found by schema text', () => {
    expect(schemas.length).to.be.greaterThan(10);
    for (const [name, schema] of schemas) expect(built.has(JSON.stringify(schema)), name).to.equal(true);
  });

  it('applies the same defaults and refuses the same values as ajv compiling the sources', () => {
    const samples: unknown[] = [{}, { unknownKey: 1 }, [], 'text', { server: { port: -1 } }, { backends: [{ url: 7 }] }, { keys: 'x' }, { dir: 3 }];
    for (const [name, schema] of schemas) {
      const precompiled = built.get(JSON.stringify(schema))!;
      const fresh = createAjv().compile(schema);
      for (const sample of samples) {
        const [a, b] = [structuredClone(sample), structuredClone(sample)];
        const verdict = precompiled(a);
        expect(verdict, `${name} on ${JSON.stringify(sample)}`).to.equal(fresh(b));
        expect(a, `${name}: defaults of ${JSON.stringify(sample)}`).to.deep.equal(b);
        expect(precompiled.errors ?? null, `${name}: errors on ${JSON.stringify(sample)}`).to.deep.equal(fresh.errors ?? null);
      }
    }
  });

  it('the compiled code imports TypeBox as one bundle (dist/vendor/typebox.js) whose schemas are the package\'s', async () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
    const bare = files(dist).filter((file) => !file.includes('/vendor/') && readFileSync(file, 'utf8').includes("from '@sinclair/typebox'"));
    expect(bare, 'compiled files importing the package itself').to.deep.equal([]);
    expect(readFileSync(join(dist, 'contracts/schemas.js'), 'utf8')).to.include("from '../vendor/typebox.js'");
    const bundled = (await import(new URL('../dist/vendor/typebox.js', import.meta.url).href)) as typeof import('@sinclair/typebox');
    const [ours, theirs] = [bundled.Type.Object({ a: bundled.Type.String({ minLength: 1 }), b: bundled.Type.Optional(bundled.Type.Integer()) }), Type.Object({ a: Type.String({ minLength: 1 }), b: Type.Optional(Type.Integer()) })];
    expect(bundled.Kind).to.equal(Kind);
    expect(ours[Kind]).to.equal(theirs[Kind]);
    expect(JSON.stringify(ours)).to.equal(JSON.stringify(theirs));
  });

  it('the compiled code imports yaml and prom-client as bundles exporting what each package does', async () => {
    const dist = fileURLToPath(new URL('../dist/', import.meta.url));
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
    for (const pkg of ['yaml', 'prom-client']) {
      const bare = files(dist).filter((file) => !file.includes('/vendor/') && readFileSync(file, 'utf8').includes(`from '${pkg}'`));
      expect(bare, `compiled files importing ${pkg} itself`).to.deep.equal([]);
      const bundled = (await import(new URL(`../dist/vendor/${pkg}.js`, import.meta.url).href)) as Record<string, unknown>;
      const own = (await import(pkg)) as Record<string, unknown>;
      expect(Object.keys(bundled).sort(), pkg).to.include.members(Object.keys(own).filter((k) => k !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(k)));
    }
    const { parse } = (await import(new URL('../dist/vendor/yaml.js', import.meta.url).href)) as typeof import('yaml');
    expect(parse('a: [1, two]')).to.deep.equal({ a: [1, 'two'] });
    const prom = (await import(new URL('../dist/vendor/prom-client.js', import.meta.url).href)) as typeof import('prom-client');
    const registry = new prom.Registry();
    new prom.Counter({ name: 'bundled_total', help: 'h', registers: [registry] }).inc(2);
    prom.collectDefaultMetrics({ register: registry });
    const text = await registry.metrics();
    expect(text).to.include('bundled_total 2').and.include('process_cpu_user_seconds_total');
  });
});
