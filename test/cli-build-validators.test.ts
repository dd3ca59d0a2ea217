import { expect } from 'chai';
import { existsSync } from 'node:fs';
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

describe('the build-time validators (dist/validators.js)', function () {
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
});
