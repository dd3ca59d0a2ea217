import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

/** Debian's Chromium (installed by .ci/run); playwright-core never downloads a browser of its own. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('docs page in a real browser', function () {
  this.timeout(60000);
  let bridge: RunningBridge;
  let browser: Browser;

  before(async () => {
    bridge = await startBridge({ plugins: { util: {}, openapi: {}, metrics: {} } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await bridge?.close();
  });

  it('renders the API reference offline and lists the mounted endpoints', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(bridge.url) && !request.url().startsWith('data:') && !request.url().startsWith('blob:')) external.push(request.url());
    });
    await page.goto(`${bridge.url}/docs`);
    await page.getByText('/health').first().waitFor({ timeout: 30000 });
    const text = await page.locator('#redoc').innerText();
    for (const path of ['/health', '/ready', '/metrics', '/openapi.json']) expect(text).to.contain(path);
    expect(text).to.contain('WebSocket');
    expect(external).to.deep.equal([]);
  });
});
