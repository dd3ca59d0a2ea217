/**
 * Generates the reference pages from the code itself — the OpenAPI document of the default deployment,
 * the configuration schema of the kernel and of every plugin, and the plugin catalogue — so the docs
 * site cannot drift from what the server does. Run by `npm run docs:build`.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createApp } from '../../core/app.js';
import { loadConfig } from '../../cli/config/load.js';
import { kernelSchema } from '../../core/config/schema.js';
import { KERNEL_ENV } from '../../cli/config/env.js';
import type { PluginManifest } from '../../core/plugin.js';
import { buildDocument } from '../../plugins/openapi/build-document.js';
import { DESCRIPTION } from '../../plugins/openapi/description.js';
import { renderApi } from './render-api.js';
import { rowsToMarkdown, schemaRows } from './schema-table.js';
import { cell, prose } from './escape.js';
import { readmeSection } from './plugin-readme.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'docs/reference');

async function allPlugins(): Promise<PluginManifest[]> {
  const names = (await readdir(join(ROOT, 'plugins'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const manifests: PluginManifest[] = [];
  for (const name of names) {
    const file = join(ROOT, 'plugins', name, 'index.ts');
    if (existsSync(file)) manifests.push(((await import(pathToFileURL(file).href)) as { default: PluginManifest }).default);
  }
  return manifests;
}

async function apiPage(): Promise<{ markdown: string; document: Record<string, unknown>; mounted: Map<string, string[]> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'comfy-bridge-docs-'));
  // The default deployment with auth on (a throwaway key), so the reference shows what needs a key.
  const config = await loadConfig({
    cwd: ROOT,
    env: { COMFY_BRIDGE_API_KEYS: 'docs-generator-throwaway-key:admin' },
    flags: { dataDir, log: { level: 'silent' }, server: { port: 0 }, plugins: { comfyui: { backends: [{ url: 'http://127.0.0.1:9' }] } } },
  });
  const app = await createApp(config);
  try {
    const routes = app.routes();
    const document = await buildDocument(routes, { version: '', serverUrl: null, authEnabled: true, description: DESCRIPTION });
    const mounted = new Map<string, string[]>();
    for (const r of routes) mounted.set(r.plugin, [...(mounted.get(r.plugin) ?? []), `${r.method.toUpperCase()} ${r.path}`]);
    return { markdown: renderApi(document), document, mounted };
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function configurationPage(plugins: PluginManifest[]): string {
  const pluginEnv = plugins.flatMap((p) => Object.entries(p.env ?? {}).map(([variable, s]) => ({ variable, path: ['plugins', p.name, s.key], description: s.description })));
  const env = [...KERNEL_ENV.map((s) => ({ variable: s.name, path: s.path, description: s.description })), ...pluginEnv].map((v) => `| \`${v.variable}\` | \`${v.path.join('.')}\` | ${v.description} |`).join('\n');
  const flags = plugins.flatMap((p) => Object.entries(p.flags ?? {}).map(([name, s]) => `\`--${name} ${s.value ?? 'VALUE'}\``));
  const sections = plugins
    .map((p) => `### \`plugins.${p.name}\`\n\n${prose(p.description)}\n\n${rowsToMarkdown(schemaRows(p.options))}`)
    .join('\n');
  return `# Configuration reference

_Generated from the config schemas in the code (\`npm run docs:build\`); do not edit by hand._

A deployment is one YAML (or JSON) file layered over \`config/default.yaml\`, the package's embedded default,
plugin by plugin (name only the plugins you change; \`false\` disables one). Layers, lowest first:
**schema defaults < embedded defaults < config file < environment variables < CLI flags**. Unknown keys are
refused, naming the plugin and the key; the result is frozen. \`npx comfy-bridge config check [--config file]\`
prints every effective value with where it came from (default, file, env, flag), secrets redacted.

## Environment variables

| variable | config key | meaning |
|---|---|---|
${env}

CLI flags: \`--host\`, \`--port\`, \`--public-url\`, \`--data-dir\`, \`--log-level\`, \`--log-format\`, ${flags.join(', ')}.

## Kernel

${rowsToMarkdown(schemaRows(kernelSchema))}
## Plugins

Under \`plugins:\`, each key names a plugin; an object (even \`{}\`) enables it with those options, \`false\`
disables it.

${sections}`;
}

/** Each plugin's README.md (its folder is named after it), by plugin name; plugins without one are left out. */
async function pluginReadmes(plugins: PluginManifest[]): Promise<Map<string, string>> {
  const readmes = new Map<string, string>();
  for (const { name } of plugins) {
    const file = join(ROOT, 'plugins', name, 'README.md');
    if (existsSync(file)) readmes.set(name, await readFile(file, 'utf8'));
  }
  return readmes;
}

function pluginsPage(plugins: PluginManifest[], mounted: Map<string, string[]>, readmes: Map<string, string>): string {
  const rows = plugins.map((p) => {
    const routes = (mounted.get(p.name) ?? []).map((r) => `\`${r}\``).join('<br>');
    const deps = [...(p.dependencies ?? []), ...(p.optionalDependencies ?? []).map((d) => `${d}?`)].join(', ');
    const name = readmes.has(p.name) ? `[\`${p.name}\`](#${p.name})` : `\`${p.name}\``;
    return `| ${name} | ${cell(p.description)} | ${routes} | ${(p.provides ?? []).join(', ')} | ${deps} |`;
  });
  const sections = plugins.filter((p) => readmes.has(p.name)).map((p) => readmeSection(p.name, readmes.get(p.name)!));
  return `# Plugins

_Generated from the plugin manifests and each plugin's README.md (\`npm run docs:build\`)._ Each plugin lives in
\`plugins/<name>/\`; a dependency with \`?\` is optional. Options: see the [configuration reference](./configuration).

| plugin | what it does | routes | provides | depends on |
|---|---|---|---|---|
${rows.join('\n')}

${sections.join('\n')}`;
}

const plugins = await allPlugins();
const api = await apiPage();
await mkdir(OUT, { recursive: true });
await mkdir(join(ROOT, 'docs/public'), { recursive: true });
await writeFile(join(OUT, 'api.md'), api.markdown);
await writeFile(join(ROOT, 'docs/public/openapi.json'), `${JSON.stringify(api.document, null, 2)}\n`);
await writeFile(join(OUT, 'configuration.md'), configurationPage(plugins));
await writeFile(join(OUT, 'plugins.md'), pluginsPage(plugins, api.mounted, await pluginReadmes(plugins)));
process.stdout.write(`docs: wrote reference pages for ${plugins.length} plugins and ${Object.keys(api.document.paths as object).length} paths\n`);
