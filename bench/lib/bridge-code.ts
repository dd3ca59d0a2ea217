/**
 * The bridge's modules as `npm start` runs them: the compiled JS in dist/ when it is built and fresh
 * (bin/compiled.js decides, as for the CLI), else the TypeScript sources through tsx. tsx keeps function
 * names (esbuild's keepNames: an Object.defineProperty for every closure made), which the compiled code
 * does not pay, so a bench of the sources measures a slower bridge than the one users run.
 */
import { compiledIsFresh } from '../../bin/compiled.js';

const root = new URL('../../', import.meta.url);

/** 'dist' or 'sources': which code this process's bridge runs (bench results say it). */
export const bridgeCode: 'dist' | 'sources' = compiledIsFresh(root) ? 'dist' : 'sources';

/** Imports a bridge module by its path from the repository root without extension, e.g. 'core/app'. */
export function importBridge<T>(path: string): Promise<T> {
  return import(new URL(bridgeCode === 'dist' ? `dist/${path}.js` : `${path}.ts`, root).href) as Promise<T>;
}
