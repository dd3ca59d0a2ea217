import { expect } from 'chai';
import { loadConfig } from '../cli/config/load.js';
import { createApp } from '../core/app.js';
import { startFakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { FrameReader, refusedUpgrade, wsUrl } from './ws-client.js';

const APP = 'http://app.example.test:5173';
const OTHER = 'http://evil.example.test';

const sleepy = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 0 }, _meta: { title: 'Empty Image', apiinput: 'width' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'cors' }, _meta: { title: 'Save Image' } },
};

describe('cors plugin: HTTP', function () {
  this.timeout(10_000);
  let bridge: RunningBridge;

  before(async () => {
    bridge = await startBridge({ plugins: { util: {}, cors: { origins: [APP], credentials: true } } });
  });
  after(() => bridge?.close());

  it('echoes an allowlisted origin (never *), with credentials, Vary and exposed headers', async () => {
    const response = await fetch(`${bridge.url}/health`, { headers: { Origin: APP } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('access-control-allow-origin')).to.equal(APP);
    expect(response.headers.get('access-control-allow-credentials')).to.equal('true');
    expect(response.headers.get('vary')).to.match(/origin/i);
    expect(response.headers.get('access-control-expose-headers')).to.include('X-Request-Id');
  });

  it('puts the same headers on an error, so the page can read {"error","detail"}', async () => {
    const response = await fetch(`${bridge.url}/no-such-route`, { headers: { Origin: APP } });
    expect(response.status).to.equal(404);
    expect(response.headers.get('access-control-allow-origin')).to.equal(APP);
    expect(await response.json()).to.include({ error: 'not_found' });
  });

  it('answers a preflight from an allowlisted origin with 204, methods, headers and max-age', async () => {
    const response = await fetch(`${bridge.url}/health`, {
      method: 'OPTIONS',
      headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    expect(response.status).to.equal(204);
    expect(response.headers.get('access-control-allow-origin')).to.equal(APP);
    expect(response.headers.get('access-control-allow-methods')).to.include('POST');
    expect(response.headers.get('access-control-allow-headers')).to.include('Authorization');
    expect(response.headers.get('access-control-allow-headers')).to.include('Content-Type');
    expect(response.headers.get('access-control-max-age')).to.equal('600');
  });

  for (const [what, origin] of [
    ['another origin', OTHER],
    ['Origin: null', 'null'],
    ['the allowed host on another port', 'http://app.example.test:5174'],
    ['the allowed host over https', 'https://app.example.test:5173'],
  ] as const) {
    it(`gives ${what} no CORS header, on requests and on preflights`, async () => {
      const plain = await fetch(`${bridge.url}/health`, { headers: { Origin: origin } });
      expect(plain.headers.get('access-control-allow-origin')).to.equal(null);
      expect(plain.headers.get('access-control-allow-credentials')).to.equal(null);
      const preflight = await fetch(`${bridge.url}/health`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' } });
      expect(preflight.headers.get('access-control-allow-origin')).to.equal(null);
      expect(preflight.headers.get('access-control-allow-methods')).to.equal(null);
    });
  }

  for (const origins of [['*'], ['null'], ['http://app.example.test/'], ['app.example.test']]) {
    it(`refuses to start with origins ${JSON.stringify(origins)}`, async () => {
      const config = await loadConfig({ inline: { log: { level: 'silent' }, server: { port: 0 }, plugins: { cors: { origins } } }, env: {} });
      let failure: unknown;
      await createApp(config).catch((error: unknown) => (failure = error));
      expect(String(failure)).to.match(/cors/);
      expect(String(failure)).to.match(/origins/);
    });
  }
});

describe('cors plugin: the websocket Origin check', function () {
  this.timeout(20_000);
  let stack: ComfyBridge;
  let url: string;

  before(async () => {
    stack = await startComfyBridge({ fakes: [await startFakeComfy()], workflows: { sleepy }, plugins: { ws: {}, cors: { origins: [APP] } } });
    url = stack.bridge.url;
  });
  after(() => stack?.close());

  it('refuses an upgrade from a foreign origin or Origin: null with 403 and a JSON body', async () => {
    for (const origin of [OTHER, 'null']) {
      const refused = await refusedUpgrade(wsUrl(url, '?clientId=cors-1'), { Origin: origin });
      expect(refused.status, origin).to.equal(403);
      expect(refused.body).to.include({ error: 'forbidden' });
    }
  });

  it('accepts an allowlisted origin, the bridge’s own origin, and a program that sends no Origin', async () => {
    for (const headers of [{ Origin: APP }, { Origin: url }, {}] as Record<string, string>[]) {
      const reader = await FrameReader.open(wsUrl(url, '?clientId=cors-2'), headers);
      expect(await reader.next(), JSON.stringify(headers)).to.deep.equal({ status: 'connected', details: 'server connected' });
      reader.close();
    }
  });
});
