// Whether to run the compiled JS in dist/ or the TypeScript sources: shared by the CLI (bin/comfy-bridge.js)
// and the benchmarks' bridge servers, so a bench measures the code `npm start` runs.
import { existsSync, readdirSync, statSync } from 'node:fs';

/** Newest modification time under the source folders (a few hundred stats: a couple of milliseconds). */
function newestSource(root) {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
      if (entry.isDirectory()) walk(url);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(url).mtimeMs);
    }
  };
  for (const folder of ['core/', 'lib/', 'cli/', 'contracts/', 'plugins/']) walk(new URL(folder, root));
  const api = new URL('plugin-api.ts', root);
  if (existsSync(api)) newest = Math.max(newest, statSync(api).mtimeMs);
  return newest;
}

/**
 * True when dist/ (built by `npm run build`) holds the code to run: it exists and, in a clone with sources,
 * is not older than any of them. A clone whose dist/ is missing or stale runs the sources through tsx, so
 * nothing ever runs stale code.
 */
export function compiledIsFresh(root) {
  const stamp = new URL('dist/.tsbuildinfo', root);
  if (!existsSync(new URL('dist/cli/main.js', root))) return false;
  if (!existsSync(new URL('cli/main.ts', root))) return true;
  return existsSync(stamp) && statSync(stamp).mtimeMs >= newestSource(root);
}
