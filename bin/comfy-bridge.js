#!/usr/bin/env node
// Runs the compiled JS (dist/, built by `npm run build`; the published package holds only that). In a clone
// whose dist/ is missing or older than the sources, it runs the TypeScript sources through tsx (a dev tool)
// instead, so `node bin/comfy-bridge.js` and the tests never run stale code.
import { compiledIsFresh } from './compiled.js';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/cli/main.js', root);
const useCompiled = compiledIsFresh(root);

// Node >= 22.1 keeps compiled code between starts (most of a start is reading and compiling modules); Node 20 has no such cache.
(await import('node:module')).enableCompileCache?.();

let main;
if (useCompiled) ({ main } = await import(compiled.href));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('cli/main.ts', root).href));
}
// Exit explicitly: a plugin timer left behind must not keep a stopped server alive (main flushes the log first).
process.exit(await main(process.argv.slice(2)));
