import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { createApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import type { PluginManifest } from '../core/plugin.js';
import example from '../docs/examples/filename-prefix-plugin.js';
import { getJson, postJson, startStack, type Stack } from './e2e-support.js';

/** The example of docs/writing-a-plugin.md really works: it rewrites graphs before submit and adds a route. */
describe('docs example plugin (filename-prefix)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('names saved files after the workflow and counts the graphs it rewrote', async () => {
    stack = await startStack({ extraPlugins: [example as PluginManifest<never>] });
    const answer = await postJson(`${stack.bridge.url}/generate-based-workflow?clientId=example-1`, { workflow: 'sleepy', wait: true });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const submitted = stack.fake.prompts.find((p) => p.accepted)!;
    expect((submitted.graph['3'] as { inputs: { filename_prefix: string } }).inputs.filename_prefix).to.equal('bridge_sleepy');
    const [url] = (answer.body.data as { result_urls: string[] }).result_urls;
    expect(url).to.match(/\/bridge_sleepy_\d+_\.png$/);
    const stats = await getJson(`${stack.bridge.url}/filename-prefix/stats`);
    expect(stats.body).to.deep.equal({ rewritten: 1 });
  });

  it('loads from a config file through pluginModules, with options validated', async () => {
    const examplePath = fileURLToPath(new URL('../docs/examples/filename-prefix-plugin.ts', import.meta.url));
    const config = (prefix: string) =>
      finishConfig(
        { log: { level: 'silent' }, server: { port: 0 }, pluginModules: [examplePath], plugins: { 'filename-prefix': { prefix } } },
        { cwd: process.cwd(), configDir: process.cwd() },
      );
    const app = await createApp(config('shop'));
    expect(app.plugins).to.deep.equal(['filename-prefix']);
    expect(app.routes().map((r) => r.path)).to.deep.equal(['/filename-prefix/stats']);
    await app.close();
    const error: unknown = await createApp(config('no spaces allowed')).catch((e: unknown) => e);
    expect((error as Error).message).to.match(/^invalid options for plugin "filename-prefix": plugins\.filename-prefix\.prefix must match pattern/);
  });
});
