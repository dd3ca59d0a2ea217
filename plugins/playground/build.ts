import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./ui/main.ts', import.meta.url));

/**
 * Bundles the page's TypeScript (ui/ and the client SDK it uses) into one minified ES module, in
 * memory. Built on the first request and kept: the sources are the only thing committed, so the
 * served script cannot drift from them.
 */
export async function buildApp(): Promise<Buffer> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0]!.contents);
}
