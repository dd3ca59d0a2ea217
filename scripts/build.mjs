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

// `comfy-bridge serve --help` lists the flags the built-in plugins declare (and a start reads which plugin declares what). Importing every plugin takes
// ~0.4 s, over the help budget (300 ms), so the build keeps a snapshot of their declarations beside the code.
const { knownManifests } = await import(new URL('dist/core/loader/resolve.js', root).href);
const declared = [];
for (const manifest of await knownManifests([])) {
  for (const kind of ['env', 'flags']) {
    for (const [name, s] of Object.entries(manifest[kind] ?? {})) {
      declared.push({ kind, name, owner: manifest.name, key: s.key, value: s.value ?? 'VALUE', description: s.description });
    }
  }
  // Top-level choices (`storage: postgres`): with the variables and flags above, what lets a start import only the
  // built-in plugins its config can need (cli/config/load.ts), not all of them (pg for a start on nedb).
  for (const [key, value] of Object.entries(manifest.selectedBy ?? {})) declared.push({ kind: 'choice', name: key, owner: manifest.name, key: value, value, description: '' });
}
writeFileSync(new URL('dist/plugin-settings.json', root), `${JSON.stringify(declared, null, 2)}\n`);

// Cold start: most of a start is loading modules, and @sinclair/typebox is 201 small ES modules (each one read
// and compiled on its own) that every contract and plugin imports. The compiled code imports one bundle of it
// instead (dist/vendor/, esbuild, the same code; TypeBox's markers are Symbol.for() keys, so schemas stay
// interchangeable with those of a plugin importing the package itself). The sources and the tests import the package.
const { build } = await import('esbuild');
const { readdirSync } = await import('node:fs');
const { dirname, relative } = await import('node:path');
// The same for the CommonJS packages every start loads (yaml 73 files, prom-client 33 plus the 52 of
// @opentelemetry/api it requires): one file each instead of a resolution, a read and a compile per file (~0.1 s of
// a start each on this machine). A CommonJS bundle re-exports the names the package has (read here by importing
// it). Not ajv (64 files): a bundle of it made dist/validators.js wrong (its standalone export wrote ajv's code
// objects as JSON), and the build's validators must come from the ajv the compiled code runs.
const VENDOR = { '@sinclair/typebox': 'typebox.js', yaml: 'yaml.js', 'prom-client': 'prom-client.js' };
const commonJs = async (pkg) => {
  const names = Object.keys(await import(pkg)).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
  return `import * as m from '${pkg}';\nexport default m.default;\nexport const { ${names.join(', ')} } = m;\n`;
};
const VENDOR_SOURCE = {
  '@sinclair/typebox': "export * from '@sinclair/typebox';",
  yaml: await commonJs('yaml'),
  'prom-client': await commonJs('prom-client'),
};
// A bundled CommonJS module may require a Node built-in at run time: give it a require.
const banner = { js: "import { createRequire as __vendorRequire } from 'node:module';\nconst require = __vendorRequire(import.meta.url);" };
for (const [pkg, contents] of Object.entries(VENDOR_SOURCE)) {
  await build({ stdin: { contents, resolveDir: root.pathname, loader: 'js' }, bundle: true, format: 'esm', platform: 'node', target: 'node20', banner, outfile: new URL(`dist/vendor/${VENDOR[pkg]}`, root).pathname, logLevel: 'warning' });
}
const rewrite = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory() && entry.name !== 'vendor') rewrite(path);
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const code = readFileSync(path, 'utf8');
    let changed = code;
    for (const [pkg, file] of Object.entries(VENDOR)) {
      const target = relative(dirname(path), new URL(`dist/vendor/${file}`, root).pathname);
      changed = changed.replaceAll(`from '${pkg}';`, `from '${target.startsWith('.') ? target : `./${target}`}';`);
    }
    if (changed !== code) writeFileSync(path, changed);
  }
};
rewrite(new URL('dist', root).pathname);

// Cold start: ajv compiles a validator by generating and evaluating code (~10-50 ms a schema; the kernel's
// config schema and every enabled plugin's options schema at each start, a fifth of the CPU of an empty
// start). The build compiles them once, as standalone code (ajv's own export of the same functions),
// keyed by the schema's JSON: core/config/ajv.ts takes a validator from here when the schema is the same
// text, and compiles it as before otherwise (a plugin module, a schema changed since the build).
const { createAjv } = await import(new URL('dist/core/config/ajv.js', root).href);
const { kernelSchema } = await import(new URL('dist/core/config/schema.js', root).href);
const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
const schemas = new Map([[JSON.stringify(kernelSchema), kernelSchema]]);
for (const manifest of await knownManifests([])) if (manifest.options) schemas.set(JSON.stringify(manifest.options), manifest.options);
const standalone = createAjv({ code: { source: true, esm: true } });
const exports = {};
[...schemas.values()].forEach((schema, i) => {
  standalone.addSchema(schema, `precompiled-${i}`);
  exports[`v${i}`] = `precompiled-${i}`;
});
const keys = [...schemas.keys()].map((key, i) => `  [${JSON.stringify(key)}, v${i}],`);
writeFileSync(
  new URL('dist/validators.js', root),
  [
    '// Written by scripts/build.mjs: ajv validators of the kernel config schema and the built-in plugins\' options, compiled once.',
    "import { createRequire } from 'node:module';",
    'const require = createRequire(import.meta.url);',
    standaloneCode(standalone, exports),
    `export const validators = new Map([\n${keys.join('\n')}\n]);`,
    '',
  ].join('\n'),
);

