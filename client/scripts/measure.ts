/**
 * The SDK's numbers for docs/client.md: the browser bundle (esbuild, minified, gzip) and the lines an
 * app needs for upload → generate → follow → download with the SDK and with fetch alone.
 * Run: npx tsx client/scripts/measure.ts
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const at = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

const bundle = await build({
  entryPoints: [at('../src/index.ts')],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
});
const code = bundle.outputFiles[0]!.contents;

/** Lines of code: not blank, not a comment. */
async function codeLines(path: string): Promise<number> {
  const lines = (await readFile(at(path), 'utf8')).split('\n').map((line) => line.trim());
  let inBlock = false;
  return lines.filter((line) => {
    if (inBlock) {
      inBlock = !line.includes('*/');
      return false;
    }
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      return false;
    }
    return line !== '' && !line.startsWith('//');
  }).length;
}

process.stdout.write(
  `${JSON.stringify(
    {
      bundle_min_bytes: code.byteLength,
      bundle_min_gzip_bytes: gzipSync(code, { level: 9 }).byteLength,
      lines_sdk: await codeLines('../../docs/examples/sdk-flow.ts'),
      lines_raw_fetch: await codeLines('../../docs/examples/raw-fetch-flow.ts'),
    },
    null,
    2,
  )}\n`,
);
