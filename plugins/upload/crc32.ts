import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * CRC-32 (the PNG chunk checksum) of `data`, continuing from `value`: @node-rs/crc32 (crc32fast, which folds
 * with PCLMULQDQ / ARM's CRC instructions) where its prebuilt binary loads, ~2.5× node:zlib's over a 1 MiB PNG
 * (0.1 against 0.25 ms here: the PNG check's largest cost, docs/performance.md "Uploads, wave 8"). Where it does
 * not (no binary for the platform), node:zlib's: the same function, slower, never a different answer — checked
 * against zlib's on a known input before it is used.
 */
type Crc32 = (data: Uint8Array, value?: number) => number;

function fastest(): Crc32 {
  try {
    const { crc32 } = createRequire(import.meta.url)('@node-rs/crc32') as { crc32: (input: Uint8Array, initialState?: number) => number };
    const probe = Buffer.from('IDAT comfy-bridge');
    if (crc32(probe) === zlibCrc32(probe) && crc32(probe.subarray(5), crc32(probe.subarray(0, 5))) === zlibCrc32(probe)) return crc32;
  } catch {
    // no binary for this platform: zlib's below
  }
  return zlibCrc32;
}

export const crc32: Crc32 = fastest();
