import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CORE = fileURLToPath(new URL('../core/', import.meta.url));
/**
 * A ratchet on the kernel's size (lines of core/**\/*.ts, as `wc -l` counts them). Issue 11 asked for 1,100 at
 * most; this holds what was reached: lower it as the kernel shrinks, never raise it. New features belong in
 * plugins or lib/, config assembly in cli/config/ (see docs/architecture.md), not in core/.
 */
const CEILING = 1098;

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []));

describe('kernel size', () => {
  it(`core/ stays within ${CEILING} lines`, () => {
    const lines = files(CORE).reduce((sum, file) => sum + (readFileSync(file, 'utf8').match(/\n/g)?.length ?? 0), 0);
    expect(lines, 'lines in core/**/*.ts').to.be.at.most(CEILING);
    expect(lines).to.be.greaterThan(0);
  });
});
