/** Writes client/src/api.ts: `npm run client:types` at the repository root. */
import { writeFile } from 'node:fs/promises';
import { API_FILE, apiSource, defaultDocument } from './document.js';

await writeFile(API_FILE, await apiSource(await defaultDocument()));
process.stdout.write(`wrote ${API_FILE}\n`);
