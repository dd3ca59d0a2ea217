import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of comfy-bridge's package.json, found from this file: the same from the sources and dist/, whatever the cwd. */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'comfy-bridge') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`comfy-bridge: no package.json named comfy-bridge above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();

/** The embedded defaults every config file layers over. */
export const DEFAULTS_FILE = join(PACKAGE_ROOT, 'config', 'default.yaml');
