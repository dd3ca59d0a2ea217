import { Busboy } from '@fastify/busboy';
import { expect } from 'chai';
import { HeaderMeter, HeadersTooLarge, MAX_HEADER_BYTES } from '../plugins/upload/header-meter.js';

const B = 'xYz0';
const part = (headers: string, bytes: Buffer | string) => Buffer.concat([Buffer.from(`--${B}\r\n${headers}\r\n\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);
const close = Buffer.from(`--${B}--\r\n`);
const DISPOSITION = 'Content-Disposition: form-data; name="f"; filename="a.png"';

/** `body` cut into pieces of `size` bytes (the last one shorter). */
function cut(body: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) pieces.push(body.subarray(at, at + size));
  return pieces;
}

/** What the meter says of each piece: 'pass', 'hold' (not for busboy) or 'too large' (thrown), up to the first throw. */
function verdicts(pieces: Buffer[]): string[] {
  const meter = new HeaderMeter(B);
  const said: string[] = [];
  for (const piece of pieces) {
    try {
      said.push(meter.push(piece) ? 'pass' : 'hold');
    } catch (error) {
      expect(error).to.be.instanceOf(HeadersTooLarge);
      said.push('too large');
      break;
    }
  }
  return said;
}

/** A body whose one part has header lines and blank line of exactly `size` bytes. */
function headersOf(size: number): Buffer {
  const padding = size - `${DISPOSITION}\r\nX-P: `.length - 4;
  return Buffer.concat([part(`${DISPOSITION}\r\nX-P: ${'a'.repeat(padding)}`, 'image bytes'), close]);
}

const SIZES = [1, 7, 100, 4096, 1_000_000];

describe('upload: the part header meter (before busboy)', () => {
  it(`passes a body whose headers are within ${MAX_HEADER_BYTES} bytes, in pieces of any size`, async () => {
    const data = new FormData();
    data.append('note', 'some text');
    data.append('image', new Blob([Buffer.alloc(5000, 7)], { type: 'image/png' }), 'a.png');
    const request = new Request('http://localhost/', { method: 'POST', body: data });
    const body = Buffer.from(await request.arrayBuffer());
    const boundary = /boundary=(.+)$/.exec(request.headers.get('content-type')!)![1]!;
    for (const size of SIZES) {
      const meter = new HeaderMeter(boundary);
      for (const piece of cut(body, size)) expect(meter.push(piece), `pieces of ${size}`).to.equal(true);
    }
    for (const size of SIZES) expect(verdicts(cut(headersOf(MAX_HEADER_BYTES), size)), `pieces of ${size}`).to.not.include('too large').and.not.include('hold');
  });

  it('refuses headers one byte over the limit once they end, and holds back from busboy the piece that went over', () => {
    for (const size of SIZES) {
      const said = verdicts(cut(headersOf(MAX_HEADER_BYTES + 1), size));
      expect(said.at(-1), `pieces of ${size}`).to.equal('too large');
      expect(said.slice(0, -1).filter((verdict) => verdict !== 'pass').every((verdict) => verdict === 'hold'), `pieces of ${size}`).to.equal(true);
    }
    // Over the limit and never ending: held back, never refused here (the body limit answers for it).
    const endless = Buffer.concat([Buffer.from(`--${B}\r\n${DISPOSITION}\r\nX-P: `), Buffer.alloc(100_000, 0x61)]);
    const said = verdicts(cut(endless, 4096));
    expect(said).to.not.include('too large');
    expect(said.at(-1)).to.equal('hold');
  });

  it('counts only headers: file bytes that look like a boundary, and big parts, are data', () => {
    const tricky = Buffer.concat([Buffer.from(`\r\n--${B}xx`), Buffer.alloc(40_000, 0x61), Buffer.from(`\r\n--xYz\r\n`), Buffer.alloc(40_000, 0x62)]);
    const body = Buffer.concat([part(DISPOSITION, tricky), part(DISPOSITION, Buffer.alloc(70_000, 1)), close, Buffer.alloc(30_000, 0x63)]);
    for (const size of SIZES) expect(verdicts(cut(body, size)), `pieces of ${size}`).to.deep.equal(cut(body, size).map(() => 'pass'));
  });

  it('finds a delimiter cut at any byte, after carriage returns and near misses that are data', () => {
    // The meter searches for the delimiter's first 7 bytes and keeps a chunk's tail from its first CR: data made of
    // CRs and delimiter beginnings right before the real one, then a part whose headers are over the limit.
    const near = Buffer.from(`\r\r\n-\r\n--x\r\n--xYz\r\n--xYz\r\r\n--xY\r`);
    const over = `${DISPOSITION}\r\nX-P: ${'a'.repeat(MAX_HEADER_BYTES)}`;
    const body = Buffer.concat([part(DISPOSITION, Buffer.concat([Buffer.alloc(50, 0x61), near])), part(over, 'x'), close]);
    const start = 50 + `--${B}\r\n${DISPOSITION}\r\n\r\n`.length;
    for (let cutAt = start; cutAt < start + near.length + 2 + B.length + 4; cutAt++) {
      const pieces = [body.subarray(0, cutAt), body.subarray(cutAt, cutAt + 100), body.subarray(cutAt + 100)];
      expect(verdicts(pieces).at(-1), `cut at ${cutAt}`).to.equal('too large');
      // The same without the second part's excess: nothing refused, nothing held.
      const fine = Buffer.concat([part(DISPOSITION, Buffer.concat([Buffer.alloc(50, 0x61), near])), part(DISPOSITION, 'x'), close]);
      expect(verdicts([fine.subarray(0, cutAt), fine.subarray(cutAt)]), `cut at ${cutAt}`).to.deep.equal(['pass', 'pass']);
    }
  });

  it('lets through only headers the parser reads whole, however many lines they have', async () => {
    // Many short lines are the worst case: the parser reads at most 2,000 header lines.
    for (const line of ['X-P: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'X-P: a', 'a:']) {
      let headers = DISPOSITION;
      while (headers.length + line.length + 2 + 4 + 5 <= MAX_HEADER_BYTES) headers += `\r\n${line}`;
      headers += `\r\nX: ${'b'.repeat(MAX_HEADER_BYTES - headers.length - 4 - 5)}`;
      const body = Buffer.concat([part(headers, 'abc'), close]);
      expect(verdicts([body])).to.deep.equal(['pass']);
      const parser = Busboy({ headers: { 'content-type': `multipart/form-data; boundary=${B}` } });
      const seen = new Promise<string>((resolve) => {
        parser.on('file', (_name, stream: NodeJS.ReadableStream) => {
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => resolve(Buffer.concat(chunks).toString()));
        });
        parser.on('error', (error: Error) => resolve(`error: ${error.message}`));
      });
      parser.end(body);
      expect(await seen, JSON.stringify(line)).to.equal('abc');
    }
  });
});
