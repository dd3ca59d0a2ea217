import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder that holds comfy-bridge's package.json, found by walking up from this file, so the same
 * answer comes out of the sources (core/config/) and the build (dist/core/config/), and never depends
 * on the working directory the server was started from.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const { name } = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
      if (name === 'comfy-bridge') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`comfy-bridge: no package.json named comfy-bridge above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();

/** The embedded defaults every config file layers over. */
export const DEFAULTS_FILE = join(PACKAGE_ROOT, 'config', 'default.yaml');
