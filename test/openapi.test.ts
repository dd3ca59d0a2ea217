import { expect } from 'chai';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import echo from './fixtures/echo-plugin.js';

describe('openapi: document and docs page', () => {
  let bridge: RunningBridge;
  before(async () => {
    bridge = await startBridge({ plugins: { util: {}, openapi: {}, metrics: {} }, extraPlugins: [echo] });
  });
  after(async () => {
    await bridge.close();
  });

  it('serves a valid OpenAPI 3.1 document', async () => {
    const response = await fetch(`${bridge.url}/openapi.json`);
    expect(response.status).to.equal(200);
    const document = (await response.json()) as Record<string, unknown>;
    expect(document.openapi).to.equal('3.1.0');
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).to.deep.equal([]);
    expect(result.valid).to.equal(true);
  });

  it('lists every mounted route, including those a plugin outside core adds, with their schemas', async () => {
    const document = (await (await fetch(`${bridge.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; requestBody?: unknown; 'x-scope': string }>>;
    };
    for (const route of bridge.app.routes()) {
      const template = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(document.paths[template], template).to.have.property(route.method);
    }
    const echoOp = document.paths['/echo']!.post!;
    expect(echoOp.parameters!.map((p) => p.name)).to.deep.equal(['n']);
    expect(echoOp.requestBody).to.deep.nested.include({ 'content.application/json.schema.required': ['text'] });
    expect(document.paths['/admin-only']!.get!['x-scope']).to.equal('admin');
  });

  it('serves the docs page and its script from this server (works offline)', async () => {
    const page = await (await fetch(`${bridge.url}/docs`)).text();
    expect(page).to.contain('<div id="redoc">');
    expect(page).not.to.match(/https?:\/\//);
    const script = await fetch(`${bridge.url}/docs/redoc.standalone.js`);
    expect(script.status).to.equal(200);
    expect(script.headers.get('content-type')).to.contain('javascript');
    expect((await script.arrayBuffer()).byteLength).to.be.greaterThan(100_000);
  });

  it('counts requests by route and status in /metrics', async () => {
    await fetch(`${bridge.url}/health`);
    await fetch(`${bridge.url}/nope`);
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(text).to.match(/comfy_bridge_http_requests_total\{route="\/health",method="GET",status="200"\} [1-9]/);
    expect(text).to.match(/comfy_bridge_http_requests_total\{route="unmatched",method="GET",status="404"\} [1-9]/);
    expect(text).to.contain('comfy_bridge_process_resident_memory_bytes');
    expect(text).to.contain('comfy_bridge_ws_clients 0');
  });

  it('answers /ready with 503 and reasons when storage and backends are missing', async () => {
    // (With a transport, each backend appears as {name, up, queue_remaining}: see the ready test below.)
    const response = await fetch(`${bridge.url}/ready`);
    expect(response.status).to.equal(503);
    expect(await response.json()).to.deep.equal({
      ready: false,
      storage: false,
      backends: [],
      reasons: ['no storage plugin is loaded', 'no transport plugin is loaded'],
    });
  });
});

describe('openapi: the generate body per workflow', () => {
  let bridge: RunningBridge;
  before(async () => {
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, comfyui: { backends: [{ url: 'http://127.0.0.1:9' }] }, workflows: { watch: false }, generations: {}, results: {}, generate: {}, openapi: {} },
    });
  });
  after(async () => {
    await bridge.close();
  });

  it('documents one body schema per shipped workflow, with its designated inputs, and stays valid', async () => {
    const document = (await (await fetch(`${bridge.url}/openapi.json`)).json()) as Record<string, unknown>;
    expect((await new Validator().validate(document)).valid).to.equal(true);
    const paths = document.paths as Record<string, Record<string, { requestBody: { content: Record<string, { schema: { oneOf: Record<string, unknown>[] } }> } }>>;
    const variants = paths['/generate-based-workflow']!.post!.requestBody.content['application/json']!.schema.oneOf;
    expect(variants.map((v) => v.title)).to.deep.equal(['invert-image', 'resize-image', 'text-to-image']);
    const textToImage = variants[2]! as { properties: Record<string, Record<string, unknown>>; additionalProperties: boolean };
    expect(textToImage.additionalProperties).to.equal(false);
    expect(Object.keys(textToImage.properties)).to.include.members(['workflow', '6/text', '3/seed', '5/width']);
    expect(textToImage.properties['3/seed']).to.include({ type: 'integer' });
    expect(textToImage.properties.workflow).to.deep.equal({ const: 'text-to-image' });
  });
});

describe('ready: backends and storage', () => {
  it('reports each backend by name and state, never its URL or error text', async () => {
    const bridge = await startBridge({
      plugins: { util: {}, 'storage-nedb': { inMemory: true }, comfyui: { backends: [{ url: 'http://127.0.0.1:9', name: 'gpu-1' }] } },
    });
    try {
      const response = await fetch(`${bridge.url}/ready`);
      expect(response.status).to.equal(503);
      const text = await response.text();
      expect(JSON.parse(text)).to.deep.equal({
        ready: false,
        storage: true,
        backends: [{ name: 'gpu-1', up: false, queue_remaining: null }],
        reasons: ['backend gpu-1 is down'],
      });
      expect(text).not.to.contain('127.0.0.1:9');
    } finally {
      await bridge.close();
    }
  });
});
