#!/usr/bin/env node
// `npm run build`: compile core/, lib/, contracts/, plugins/ and plugin-api.ts to dist/ (incremental), then give dist/ the one file compiled
// code reads from beside it: plugins read their version from ../../package.json, which from
// dist/plugins/<name>/ is dist/package.json.
import { execFileSync } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../', import.meta.url);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', new URL('tsconfig.build.json', root).pathname], { stdio: 'inherit' });

const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
writeFileSync(new URL('dist/package.json', root), `${JSON.stringify({ private: true, type: 'module', version }, null, 2)}\n`);
// An up-to-date incremental build writes nothing: touch the stamp bin/comfy-bridge.js compares with the sources.
const now = new Date();
utimesSync(new URL('dist/.tsbuildinfo', root), now, now);

// The playground's page script, bundled once here: the package ships dist/, not the ui sources.
const { buildApp, PREBUILT } = await import(new URL('dist/plugins/playground/build.js', root).href);
writeFileSync(PREBUILT, await buildApp(new URL('plugins/playground/ui/main.ts', root).pathname));

// `comfy-bridge serve --help` lists the flags the built-in plugins declare. Importing every plugin takes
// ~0.4 s, over the help budget (300 ms), so the build keeps a snapshot of their declarations beside the code.
const { knownManifests } = await import(new URL('dist/core/loader/resolve.js', root).href);
const declared = [];
for (const manifest of await knownManifests([])) {
  for (const kind of ['env', 'flags']) {
    for (const [name, s] of Object.entries(manifest[kind] ?? {})) {
      declared.push({ kind, name, owner: manifest.name, key: s.key, value: s.value ?? 'VALUE', description: s.description });
    }
  }
}
writeFileSync(new URL('dist/plugin-settings.json', root), `${JSON.stringify(declared, null, 2)}\n`);
