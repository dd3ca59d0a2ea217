import { copyFile, mkdir, access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from './config/package-root.js';

const STARTER = join(PACKAGE_ROOT, 'config', 'starter.yaml');

/** Writes config/local.yaml from the commented starter; refuses to overwrite without --force. */
export async function writeStarterConfig(force: boolean): Promise<number> {
  const target = resolve('config/local.yaml');
  const exists = await access(target).then(
    () => true,
    () => false,
  );
  if (exists && !force) {
    process.stderr.write(`comfy-bridge: ${target} exists; use --force to overwrite it\n`);
    return 1;
  }
  await mkdir(resolve('config'), { recursive: true });
  await copyFile(STARTER, target);
  process.stdout.write(`wrote ${target}\nstart with: npx comfy-bridge serve --config config/local.yaml\n`);
  return 0;
}
