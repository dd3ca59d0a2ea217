import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, type Stack } from './e2e-support.js';
import { startFakeComfy } from './fake-comfyui/index.js';
import { startComfyBridge } from './helpers/comfy-bridge.js';
import { encodePng } from './fake-comfyui/png.js';
import playground from '../plugins/playground/index.js';
import history from '../plugins/history/index.js';
import interrupt from '../plugins/interrupt/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Records every value the progress bar takes, from inside the page. */
const WATCH_PROGRESS = `(() => {
  const bar = document.getElementById('progress');
  window.progressSeen = [];
  // Records batch when frames arrive together: each record's old value keeps the steps in between.
  new MutationObserver((records) => {
    for (const record of records.slice(1)) window.progressSeen.push(Number(record.oldValue));
    window.progressSeen.push(Number(bar.value));
  }).observe(bar, { attributes: true, attributeFilter: ['value'], attributeOldValue: true });
})()`;

describe('playground in a real browser', function () {
  this.timeout(60_000);
  let stack: Stack;
  let browser: Browser;
  const external: string[] = [];

  before(async () => {
    stack = await startStack({ extraPlugins: [playground, history, interrupt] as never[] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function open(): Promise<Page> {
    const page = await browser.newPage();
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith(stack.bridge.url) && !url.startsWith('blob:') && !url.startsWith('data:')) external.push(url);
    });
    await page.goto(`${stack.bridge.url}/playground`);
    await page.locator('#workflow option').first().waitFor({ state: 'attached' });
    return page;
  }

  it('builds a form from /workflow-info: numbers with min/max/step, option lists, multiline text, image drop zones', async () => {
    const page = await open();
    await page.selectOption('#workflow', 'sleepy');
    await page.locator('#inputs[data-workflow="sleepy"]').waitFor();
    const width = page.locator('[name="1/width"]');
    expect(await width.getAttribute('type')).to.equal('number');
    expect(await width.inputValue()).to.equal('8');
    await page.selectOption('#workflow', 'text-to-image');
    await page.locator('#inputs[data-workflow="text-to-image"]').waitFor();
    expect(await page.locator('[name="5/width"]').evaluate((input) => ['min', 'max', 'step'].map((name) => (input as unknown as Record<string, string>)[name]))).to.deep.equal(['64', '2048', '8']);
    expect(await page.locator('textarea[name="6/text"]').count()).to.equal(1);
    await page.selectOption('#workflow', 'invert');
    await page.locator('#inputs[data-workflow="invert"] .drop input[type=file]').waitFor({ state: 'attached' });
    expect(external).to.deep.equal([]);
    await page.close();
  });

  it('uploads an image, runs it: the progress bar moves and the inverted result image loads', async () => {
    // Long enough that the page's socket is open before the run ends (a generation that ended before
    // the socket opened shows only its final frame, by design of the SDK's frames()).
    stack.fake.setNodeDuration('ImageInvert', 1500);
    const page = await open();
    await page.selectOption('#workflow', 'invert');
    await page.locator('#inputs[data-workflow="invert"]').waitFor();
    const file = join(tmpdir(), `playground-${process.pid}.png`);
    await writeFile(file, encodePng(6, 4, Buffer.alloc(6 * 4 * 3, 0x22)));
    await page.setInputFiles('.drop input[type=file]', file);
    await page.locator('.drop[data-state="uploaded"]').waitFor();
    expect(await page.locator('.drop .preview').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).to.equal(6);

    await page.evaluate(WATCH_PROGRESS);
    await page.click('#run-button');
    await page.locator('#results img.result').waitFor({ timeout: 15_000 });
    await page.waitForFunction("document.querySelector('#results img.result')?.complete === true");
    const size = await page.locator('#results img.result').evaluate((img) => [(img as unknown as { naturalWidth: number }).naturalWidth, (img as unknown as { naturalHeight: number }).naturalHeight]);
    expect(size).to.deep.equal([6, 4]);
    const seen = (await page.evaluate('window.progressSeen')) as number[];
    expect(seen.at(-1)).to.equal(100);
    expect(new Set(seen.filter((value) => value > 0 && value < 100)).size, JSON.stringify(seen)).to.be.greaterThan(0);
    expect(await page.locator('#status').innerText()).to.match(/^done: 1 file/);
    await page.locator('#history li[data-status="completed"] img.thumb').first().waitFor();
    expect(external).to.deep.equal([]);
    await page.close();
  });

  it('interrupts a running generation', async () => {
    stack.fake.setNodeDuration('TestSleep', 3000);
    const page = await open();
    await page.selectOption('#workflow', 'sleepy');
    await page.locator('#inputs[data-workflow="sleepy"]').waitFor();
    await page.click('#run-button');
    await page.waitForFunction("/running/.test(document.getElementById('status').textContent)");
    await page.click('#interrupt');
    await page.waitForFunction("/^interrupted/.test(document.getElementById('status').textContent)", undefined, { timeout: 15_000 });
    expect(await page.locator('#status').getAttribute('class')).to.equal('error');
    await page.close();
  });

  it('with auth on, asks for a key, keeps it in sessionStorage, and runs with it', async () => {
    const key = 'playground-client-key-0123456789';
    const sleepy = {
      '1': { class_type: 'EmptyImage', inputs: { width: 5, height: 3, batch_size: 1, color: 0 }, _meta: { title: 'Empty Image', apiinput: 'width' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'keyed' }, _meta: { title: 'Save Image' } },
    };
    const secured = await startComfyBridge({
      fakes: [await startFakeComfy()],
      workflows: { sleepy },
      plugins: { auth: { keys: [{ key, scopes: ['client'] }] }, ws: {}, results: {}, 'execution-info': {}, history: {}, playground: {} },
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${secured.bridge.url}/playground`);
      await page.locator('#auth:not([hidden]) #key').waitFor();
      expect(await page.locator('#app').isHidden()).to.equal(true);
      await page.fill('#key', 'not-the-key-at-all-000000');
      await page.click('#key-form button');
      await page.locator('#auth-error', { hasText: 'not valid' }).waitFor();
      await page.fill('#key', key);
      await page.click('#key-form button');
      await page.locator('#inputs[data-workflow="sleepy"]').waitFor();
      expect(await page.evaluate("sessionStorage.getItem('comfy-bridge-playground-key')")).to.equal(key);
      await page.click('#run-button');
      await page.locator('#results img.result').waitFor({ timeout: 15_000 });
      // A reload in the same tab keeps the key.
      await page.reload();
      await page.locator('#inputs[data-workflow="sleepy"]').waitFor();
      expect(await page.locator('#auth').isHidden()).to.equal(true);
      await page.close();
    } finally {
      await secured.close();
    }
  });
});
