import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./ui/main.ts', import.meta.url));
/** Where `npm run build` puts the bundle, beside the compiled plugin (the package ships no ui sources). */
export const PREBUILT = fileURLToPath(new URL('./app.js', import.meta.url));

/** The page's script: the bundle `npm run build` made when this runs from dist/, else built from the sources. */
export async function loadApp(): Promise<Buffer> {
  return existsSync(ENTRY) ? buildApp() : readFile(PREBUILT);
}

/**
 * Bundles the page's TypeScript (ui/ and the client SDK it uses) into one minified ES module, in
 * memory. Built on the first request and kept: the sources are the only thing committed, so the
 * served script cannot drift from them.
 */
export async function buildApp(entry = ENTRY): Promise<Buffer> {
  // esbuild is a build tool: loaded only when the sources are there to build.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
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
