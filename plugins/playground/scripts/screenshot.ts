/**
 * Measures the playground's first paint and time to a usable form in headless Chromium, and writes the
 * screenshot of docs/playground.md (a finished run of the shipped invert-image workflow against the fake
 * ComfyUI). Run: npx tsx plugins/playground/scripts/screenshot.ts
 */
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFakeComfy } from '../../../test/fake-comfyui/index.js';
import { startBridge } from '../../../test/helpers/bridge.js';
import { until } from '../../../test/helpers/until.js';

const at = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const fake = await startFakeComfy({ nodeDurationMs: 60 });
const bridge = await startBridge({
  plugins: {
    'storage-nedb': { inMemory: true },
    comfyui: { backends: [{ url: fake.url, name: 'fake' }] },
    workflows: { dir: at('../../../workflows'), watch: false },
    upload: {},
    generations: {},
    generate: {},
    ws: {},
    results: {},
    'execution-info': {},
    history: {},
    interrupt: {},
    playground: {},
  },
});
await until(() => fake.clientCount > 0, 'the fake ComfyUI', 10_000);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const samples: { fcp: number; ready: number }[] = [];
  // The first load builds the script (esbuild, once per process); the next ones are what a user sees.
  for (let i = 0; i < 6; i++) {
    const page = await browser.newPage();
    const started = Date.now();
    await page.goto(`${bridge.url}/playground`);
    await page.locator('#inputs .field').first().waitFor();
    const ready = Date.now() - started;
    const fcp = (await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1")) as number;
    samples.push({ fcp: Math.round(fcp), ready });
    await page.close();
  }
  const [first, ...rest] = samples;
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  process.stdout.write(
    `${JSON.stringify({ first_load: first, warm_median: { fcp_ms: median(rest.map((s) => s.fcp)), form_ready_ms: median(rest.map((s) => s.ready)) } }, null, 2)}\n`,
  );

  const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  await page.goto(`${bridge.url}/playground`);
  await page.selectOption('#workflow', 'invert-image');
  await page.locator('#inputs[data-workflow="invert-image"]').waitFor();
  await page.setInputFiles('.drop input[type=file]', at('../../../workflows/assets/example.png'));
  await page.locator('.drop[data-state="uploaded"]').waitFor();
  await page.click('#run-button');
  await page.locator('#results img.result').waitFor();
  await page.waitForFunction("document.querySelector('#results img.result')?.complete === true");
  await page.locator('#history img.thumb').first().waitFor();
  await page.screenshot({ path: at('../../../docs/images/playground.png') });
  process.stdout.write('wrote docs/images/playground.png\n');
} finally {
  await browser.close();
  await bridge.close();
  await fake.stop();
}
