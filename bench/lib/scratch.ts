import { mkdirSync, mkdtempSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the benches put data dirs, uploads and other scratch files: `BENCH_SCRATCH_DIR`, else `.tmp/bench` in
 * this checkout (git-ignored). Not the system temp folder: on the VM these benches run on, creating a file
 * anywhere under /tmp costs 0.3–0.6 ms against 0.02–0.05 ms in any other folder of the same ext4 file system
 * (/var/tmp, /root, /work; `npx tsx bench/floors.ts /tmp` against `npx tsx bench/floors.ts` shows it), which put a cost no operator's data dir has
 * on the bridge's side of every comparison (the fake ComfyUI keeps its outputs in memory).
 */
export const scratchRoot = process.env.BENCH_SCRATCH_DIR ?? join(fileURLToPath(new URL('../..', import.meta.url)), '.tmp', 'bench');

/** A new folder under the scratch root, named `<prefix>XXXXXX` (as mkdtemp). */
export async function scratchDir(prefix: string): Promise<string> {
  await mkdir(scratchRoot, { recursive: true });
  return mkdtemp(join(scratchRoot, prefix));
}

/** scratchDir for scripts that must stay synchronous at load. */
export function scratchDirSync(prefix: string): string {
  mkdirSync(scratchRoot, { recursive: true });
  return mkdtempSync(join(scratchRoot, prefix));
}
