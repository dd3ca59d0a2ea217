import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { startFakeComfy } from './fake-comfyui/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const sleepy = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 0 }, _meta: { title: 'Empty Image', apiinput: 'width' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 's' }, _meta: { title: 'Save Image' } },
};

describe('openapi: the Redoc page reads cleanly', function () {
  this.timeout(60_000);
  let stack: ComfyBridge;
  let browser: Browser;

  before(async () => {
    stack = await startComfyBridge({
      fakes: [await startFakeComfy()],
      workflows: { sleepy },
      plugins: { ws: {}, upload: {}, results: {}, 'execution-info': {}, history: {}, util: {}, metrics: {}, free: {}, interrupt: {}, openapi: {} },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('shows no raw markup in the sidebar, the intro once, and the tags in reading order', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.bridge.url}/docs`);
    await page.locator('.menu-content').getByText('workflows').first().waitFor({ timeout: 30_000 });
    const sidebar = await page.locator('.menu-content').innerText();
    expect(sidebar).not.to.match(/<\/?[a-z]+>/);
    expect(sidebar).to.contain('WebSocket protocol');
    const tags = ['workflows', 'uploads', 'generations', 'results', 'history', 'operations', 'documentation'];
    const positions = tags.map((tag) => sidebar.indexOf(`\n${tag}\n`));
    expect(positions.every((position) => position >= 0), sidebar).to.equal(true);
    expect([...positions].sort((a, b) => a - b)).to.deep.equal(positions);
    const body = await page.locator('.api-content').innerText();
    expect(body.split('A simple, safe API in front of one or many ComfyUI servers.').length - 1).to.equal(1);
  });
});
