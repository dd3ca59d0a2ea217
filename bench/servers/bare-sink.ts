// Baseline for P7: the least a server can do with an upload — stream the request body into a new
// file and answer 200 (files are kept until exit, as the bridge keeps uploads). Same Node, same
// disk, same pinning as the bridge. It syncs nothing and parses nothing: the bridge also reads the multipart
// body, checks the image, fdatasyncs the file's data while its record is written (since wave 10: an
// upload answered survives a power loss), renames it into its store with one folder fsync and appends the record
// with an fdatasync (group-committed). The ratio is the issue's: what all that costs over the least a server can do.
//
// BENCH_SINK_DURABLE=1 (a second baseline, wave 14): the least a server can do that keeps the bridge's promise for the
// file — the body streamed into a temporary file, synced before it closes (fsync), the file renamed to its name and the
// folder's fsync made before the answer (group-committed with the bridge's own DirectorySyncs: the answers waiting while
// one is on its way share the next). Still no parsing, no check and no record: the bridge's ratio to it is what its
// work costs beside durability, and this sink's ratio to the bare one is what durability itself costs on this disk.
//
// BENCH_SINK_CHECKED=1 (a third baseline, wave 15; durable as above): the least a server can do that keeps both of the
// bridge's promises for an upload, durability and the check — the multipart body parsed by the bridge's parser
// (@fastify/busboy), each file part's bytes through the bridge's own PNG proof (plugins/upload/stream-check.ts) on their
// way to the file, and the answer only once the proof's verdict is in. No limits, no record, no framework: the bridge's
// ratio to it is what those cost; its ratio to the bare sink is the floor of the uploads target on this host.
import { Busboy } from '@fastify/busboy';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DirectorySyncs } from '../../contracts/directory-sync.js';
import { StreamCheck } from '../../plugins/upload/stream-check.js';
import { scratchDirSync } from '../lib/scratch.js';

const dir = scratchDirSync('bench-sink-');
const checked = process.env.BENCH_SINK_CHECKED === '1';
const durable = checked || process.env.BENCH_SINK_DURABLE === '1';
/** The bench's files are far inside these; the proof needs them to size its inflater. */
const PROOF_LIMITS = { maxPixels: 100_000_000, maxTotalPixels: 100_000_000 };
let seq = 0;

/** The folder's fsyncs, group-committed as the bridge's are (answers waiting while one is on its way share the next). */
const folderSyncs = new DirectorySyncs(() => true);

/** A new file that is synced before it closes (flush: an fsync, for a new file the same disk work as an fdatasync). */
function durableFile(path: string): WriteStream {
  return createWriteStream(path, { flags: 'wx', flush: true });
}

/** The body's file parts through the PNG proof into `temp` (the bench sends one part); resolves once the verdict is in. */
function receiveChecked(req: IncomingMessage, temp: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = Busboy({ headers: req.headers as Parameters<typeof Busboy>[0]['headers'] });
    const parts: Promise<unknown>[] = [];
    parser.on('file', (_name: string, part: NodeJS.ReadableStream) => {
      const check = new StreamCheck(PROOF_LIMITS);
      const out = durableFile(temp);
      part.on('data', (chunk: Buffer) => {
        for (const piece of check.push(chunk)) if (!out.write(piece)) part.pause();
      });
      out.on('drain', () => part.resume());
      part.once('end', () => {
        for (const piece of check.end()) out.write(piece);
        out.end();
      });
      parts.push(
        new Promise<void>((closed, failed) => out.once('close', () => closed()).once('error', failed))
          .then(() => check.plainPng())
          // A file the proof does not hold would take the bridge's full path (decode, re-encode): not this baseline's work.
          .then((size) => {
            if (!size) throw new Error('the PNG proof did not hold for a bench file');
          }),
      );
    });
    parser.once('error', reject);
    parser.once('finish', () => Promise.all(parts).then(() => resolve(), reject));
    req.pipe(parser);
  });
}

async function keep(req: IncomingMessage, file: string): Promise<void> {
  if (!durable) return pipeline(req, createWriteStream(file));
  const temp = `${file}.part`;
  if (checked) await receiveChecked(req, temp);
  else await pipeline(req, durableFile(temp));
  await rename(temp, file);
  await folderSyncs.sync(dir);
}

const server = createServer((req, res) => {
  keep(req, join(dir, `body-${seq++}`)).then(
    () => res.end('{}'),
    () => {
      res.statusCode = 500;
      res.end();
    },
  );
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`LISTENING http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () =>
  server.close(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }),
);
