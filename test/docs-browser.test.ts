import { expect } from 'chai';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

/**
 * playwright-core never downloads a browser of its own: use CHROMIUM_PATH, else a chromium on PATH, else
 * Debian's location (.ci/run installs it). A machine without one skips with one visible line — except under
 * CI=true, where a missing browser must fail instead of silently dropping the test.
 */
function findChromium(): string | undefined {
  const executable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) if (executable(path.join(dir, name))) return path.join(dir, name);
  }
  return executable('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

const CHROMIUM = findChromium();

describe('docs page in a real browser', function () {
  this.timeout(60000);
  let bridge: RunningBridge;
  let browser: Browser;

  before(async function () {
    if (!CHROMIUM) {
      if (process.env.CI === 'true') throw new Error('CI=true but no Chromium found (set CHROMIUM_PATH, put chromium on PATH or apt-get install chromium)');
      console.log('    [docs-browser] no Chromium found (CHROMIUM_PATH, PATH, /usr/bin/chromium): skipping the browser test');
      this.skip();
    }
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
