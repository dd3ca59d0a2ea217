/**
 * Upload throughput and memory: one 64 MiB file (streamed from disk by the client, so the numbers
 * show the server's cost), then 50 concurrent 1 MiB PNGs with full validation.
 * Run alone: `npx tsx bench/upload.ts`; the last line printed is the JSON result.
 */
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBridge } from '../test/helpers/bridge.js';
import { makePngOfSize } from '../test/upload-images.js';

const MiB = 1024 * 1024;

export interface UploadBenchResult {
  bigFile: { bytes: number; ms: number; mibPerSec: number };
  concurrent: { uploads: number; bytesEach: number; ms: number; uploadsPerSec: number };
  rss: { baselineMiB: number; peakGrowthMiB: number };
}

/** Samples RSS while `work` runs; returns its result and the highest RSS seen. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}

async function upload(url: string, field: string, blob: Blob): Promise<void> {
  const body = new FormData();
  body.append(field, blob, `${field}.png`);
  const response = await fetch(`${url}/upload?clientId=bench`, { method: 'POST', body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`upload failed with ${response.status}: ${text}`);
}

export async function run(): Promise<UploadBenchResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'bench-upload-'));
  const bridge = await startBridge({
    plugins: {
      'storage-nedb': { inMemory: true },
      // Raised for the 64 MiB file; every other check (type, header, pixels, completeness) stays on.
      upload: { maxFileBytes: 80 * MiB, maxTotalBytes: 80 * MiB, maxParts: 4, maxPixels: 100_000_000 },
    },
  });
  try {
    const bigPath = join(scratch, 'big.png');
    await writeFile(bigPath, makePngOfSize(64 * MiB));
    const bigBlob = await openAsBlob(bigPath);
    const small = new Blob([makePngOfSize(MiB)]);
    global.gc?.();
    const baseline = process.memoryUsage.rss();

    const big = await withPeakRss(async () => {
      const started = performance.now();
      await upload(bridge.url, 'big', bigBlob);
      return performance.now() - started;
    });

    const concurrentCount = 50;
    const many = await withPeakRss(async () => {
      const started = performance.now();
      await Promise.all(Array.from({ length: concurrentCount }, (_, i) => upload(bridge.url, `f${i}`, small)));
      return performance.now() - started;
    });

    const round = (n: number): number => Math.round(n * 10) / 10;
    return {
      bigFile: { bytes: bigBlob.size, ms: round(big.result), mibPerSec: round(bigBlob.size / MiB / (big.result / 1000)) },
      concurrent: {
        uploads: concurrentCount,
        bytesEach: small.size,
        ms: round(many.result),
        uploadsPerSec: round(concurrentCount / (many.result / 1000)),
      },
      rss: { baselineMiB: round(baseline / MiB), peakGrowthMiB: round((Math.max(big.peak, many.peak) - baseline) / MiB) },
    };
  } finally {
    await bridge.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run()));
}
