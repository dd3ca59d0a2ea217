#!/usr/bin/env node
// Runs the compiled JS (dist/, built by `npm run build`; the published package holds only that). In a clone
// whose dist/ is missing or older than the sources, it runs the TypeScript sources through tsx (a dev tool)
// instead, so `node bin/comfy-bridge.js` and the tests never run stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/cli/main.js', root);
const stamp = new URL('dist/.tsbuildinfo', root);

/** Newest modification time under the source folders (a few hundred stats: a couple of milliseconds). */
function newestSource() {
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

const hasSources = existsSync(new URL('cli/main.ts', root));
const useCompiled = existsSync(compiled) && (!hasSources || (existsSync(stamp) && statSync(stamp).mtimeMs >= newestSource()));

let main;
if (useCompiled) ({ main } = await import(compiled.href));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('cli/main.ts', root).href));
}
// Exit explicitly: a plugin timer left behind must not keep a stopped server alive (main flushes the log first).
process.exit(await main(process.argv.slice(2)));
