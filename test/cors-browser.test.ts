import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { startFakeComfy } from './fake-comfyui/index.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const sleepy = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 0 }, _meta: { title: 'Empty Image', apiinput: 'width' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'cors' }, _meta: { title: 'Save Image' } },
};

/** A page server on its own port: another origin than the bridge. */
async function pageServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title><p>an app on another origin</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface Outcome {
  list: string;
  post: string;
  socket: string;
}

/**
 * What a page's own script gets from the bridge: a GET, a JSON POST (preflighted) and a websocket.
 * Plain JS source: tsx compiles functions with helpers (__name) that do not exist in the page.
 */
const PROBE = `async (bridgeUrl) => {
  const attempt = (run) => run().catch((error) => 'blocked: ' + error.name);
  const [list, post, socket] = await Promise.all([
    attempt(async () => {
      const response = await fetch(bridgeUrl + '/workflow-list');
      return response.status + ' ' + (await response.json()).map((w) => w.alias).join(',');
    }),
    attempt(async () => {
      const response = await fetch(bridgeUrl + '/generate-based-workflow?clientId=page-1', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'from-the-page' },
        body: JSON.stringify({ workflow: 'no-such-workflow' }),
      });
      return response.status + ' ' + (await response.json()).error + ' ' + response.headers.get('x-request-id');
    }),
    new Promise((resolve) => {
      const ws = new WebSocket(bridgeUrl.replace(/^http/, 'ws') + '/ws?clientId=page-1');
      ws.onmessage = (event) => { resolve('frame ' + JSON.parse(event.data).status); ws.close(); };
      ws.onerror = () => resolve('blocked: socket');
    }),
  ]);
  return { list, post, socket };
}`;

const probe = (bridgeUrl: string): string => `(${PROBE})(${JSON.stringify(bridgeUrl)})`;

describe('cors plugin in a real browser: pages on other origins', function () {
  this.timeout(60_000);
  let allowed: { origin: string; server: Server };
  let foreign: { origin: string; server: Server };
  let stack: ComfyBridge;
  let browser: Browser;

  before(async () => {
    allowed = await pageServer();
    foreign = await pageServer();
    stack = await startComfyBridge({ fakes: [await startFakeComfy()], workflows: { sleepy }, plugins: { ws: {}, cors: { origins: [allowed.origin] } } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
    allowed?.server.close();
    foreign?.server.close();
  });

  it('an allowlisted origin reads answers and errors, passes the preflight and opens the websocket', async () => {
    const page = await browser.newPage();
    await page.goto(allowed.origin);
    const outcome = (await page.evaluate(probe(stack.bridge.url))) as Outcome;
    expect(outcome).to.deep.equal({ list: '200 sleepy', post: '404 not_found from-the-page', socket: 'frame connected' });
  });

  it('any other origin is blocked by the browser, and its websocket is refused by the bridge', async () => {
    const page = await browser.newPage();
    await page.goto(foreign.origin);
    const outcome = (await page.evaluate(probe(stack.bridge.url))) as Outcome;
    expect(outcome).to.deep.equal({ list: 'blocked: TypeError', post: 'blocked: TypeError', socket: 'blocked: socket' });
  });
});
