import { expect } from 'chai';
import { MAX_HEADER_BYTES, MultipartError, MultipartParser, boundaryOf, type PartHeaders } from '../plugins/upload/multipart.js';

interface Seen {
  part: PartHeaders;
  bytes: Buffer;
}

/** Parses `body` pushed in the given pieces; the parts seen, each with its bytes joined. */
function parse(boundary: string, pieces: Buffer[]): Seen[] {
  const seen: Seen[] = [];
  const chunks: Buffer[][] = [];
  let open = false;
  const parser = new MultipartParser(boundary, {
    begin(part) {
      expect(open, 'a part begins while another is open').to.equal(false);
      open = true;
      seen.push({ part, bytes: Buffer.alloc(0) });
      chunks.push([]);
    },
    data(bytes) {
      expect(open, 'data outside a part').to.equal(true);
      chunks.at(-1)!.push(bytes);
    },
    end() {
      expect(open, 'a part ends that was not begun').to.equal(true);
      open = false;
    },
  });
  for (const piece of pieces) parser.push(piece);
  parser.end();
  expect(open, 'a part left open').to.equal(false);
  return seen.map((entry, index) => ({ ...entry, bytes: Buffer.concat(chunks[index]!) }));
}

/** `body` cut into pieces of `size` bytes (the last one shorter). */
function cut(body: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) pieces.push(body.subarray(at, at + size));
  return pieces;
}

async function formDataBody(data: FormData): Promise<{ body: Buffer; boundary: string }> {
  const request = new Request('http://localhost/', { method: 'POST', body: data });
  return { body: Buffer.from(await request.arrayBuffer()), boundary: boundaryOf(request.headers.get('content-type')!)! };
}

function failure(boundary: string, pieces: Buffer[]): MultipartError {
  try {
    parse(boundary, pieces);
  } catch (error) {
    expect(error).to.be.instanceOf(MultipartError);
    return error as MultipartError;
  }
  throw new Error('the body was accepted');
}

const B = 'xYz0';
const part = (headers: string, bytes: Buffer | string) => Buffer.concat([Buffer.from(`--${B}\r\n${headers}\r\n\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);
const close = Buffer.from(`--${B}--\r\n`);

describe('upload: the multipart parser', () => {
  it('reads what FormData sends, whole or in pieces of any size, bytes unchanged', async () => {
    const file = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 3)) & 0xff));
    const data = new FormData();
    data.append('note', 'some text');
    data.append('image', new Blob([file], { type: 'image/png' }), 'a.png');
    data.append('plain', new Blob([Buffer.from('xy')]), 'b.bin');
    const { body, boundary } = await formDataBody(data);
    for (const size of [body.length, 4096, 1000, 97, 13, 2, 1]) {
      const seen = parse(boundary, cut(body, size));
      expect(seen.map((entry) => entry.part), `pieces of ${size}`).to.deep.equal([
        { name: 'note', file: false },
        { name: 'image', file: true },
        { name: 'plain', file: true },
      ]);
      expect(seen[0]!.bytes.toString()).to.equal('some text');
      expect(seen[1]!.bytes.equals(file), `pieces of ${size}`).to.equal(true);
      expect(seen[2]!.bytes.toString()).to.equal('xy');
    }
  });

  it('keeps bytes that begin like a boundary but are not one, wherever the pieces are cut', () => {
    const tricky = Buffer.from(`a\r\nb\r\n-c\r\n--d\r\n--xYz\r\n--xY\r\r\n--xYz`);
    const body = Buffer.concat([part('Content-Disposition: form-data; name="f"; filename="a"', tricky), close]);
    for (let at = 1; at < body.length; at++) {
      const [seen] = parse(B, [body.subarray(0, at), body.subarray(at)]);
      expect(seen!.bytes.equals(tricky), `cut at ${at}`).to.equal(true);
    }
    const [oneByOne] = parse(B, cut(body, 1));
    expect(oneByOne!.bytes.equals(tricky)).to.equal(true);
  });

  it('ignores a preamble and an epilogue, and takes a part with a filename or a Content-Type as a file', () => {
    const body = Buffer.concat([
      Buffer.from('this is a preamble\r\n'),
      part('Content-Disposition: form-data; name="t"', 'text'),
      part('Content-Disposition: form-data; name="typed"\r\nContent-Type: image/png', 'png'),
      part('content-disposition: form-data; name=token; filename=""', 'named'),
      part('Content-Disposition: form-data; filename="x.png"', 'nameless'),
      close,
      Buffer.from('epilogue --xYz0 whatever'),
    ]);
    const seen = parse(B, [body]);
    expect(seen.map((entry) => [entry.part.name, entry.part.file, entry.bytes.toString()])).to.deep.equal([
      ['t', false, 'text'],
      ['typed', true, 'png'],
      ['token', true, 'named'],
      [null, true, 'nameless'],
    ]);
  });

  it('refuses a body that ends before its closing boundary, or whose framing is broken, with 400', () => {
    const open = part('Content-Disposition: form-data; name="f"; filename="a"', 'abc');
    expect(failure(B, [open]).status).to.equal(400);
    expect(failure(B, [open.subarray(0, 20)]).message).to.match(/ended before its closing boundary/);
    expect(failure(B, [Buffer.from(`--${B}xx`)]).message).to.match(/neither a line break nor "--"/);
    expect(failure(B, [Buffer.from(`--${B}\r\nno colon here\r\n\r\nabc`)]).message).to.match(/"Name: value"/);
    const base64 = failure(B, [part('Content-Disposition: form-data; name="f"; filename="a"\r\nContent-Transfer-Encoding: base64', 'YWJj'), close]);
    expect(base64.status).to.equal(400);
    expect(base64.message).to.match(/Content-Transfer-Encoding "base64" is not supported/);
    expect(parse(B, [part('Content-Disposition: form-data; name="f"; filename="a"\r\nContent-Transfer-Encoding: binary', 'abc'), close])[0]!.bytes.toString()).to.equal('abc');
  });

  it(`refuses a part whose headers are over ${MAX_HEADER_BYTES} bytes with 413, once they end`, () => {
    const padding = `X-Padding: ${'a'.repeat(MAX_HEADER_BYTES)}`;
    const body = Buffer.concat([part(`Content-Disposition: form-data; name="f"; filename="a"\r\n${padding}`, 'abc'), close]);
    for (const size of [body.length, 4096, 7]) {
      const error = failure(B, cut(body, size));
      expect(error.status, `pieces of ${size}`).to.equal(413);
      expect(error.message).to.equal(`the headers of a part are larger than ${MAX_HEADER_BYTES} bytes`);
    }
    // Headers that never end are not refused as too large (the body limit, checked by the receiver, answers for them).
    expect(failure(B, [Buffer.from(`--${B}\r\n${padding}${padding}`)]).status).to.equal(400);
    // Exactly at the limit (header lines and the blank line): read, whole or in pieces; one byte more is refused.
    const atLimit = (extra: number) =>
      Buffer.concat([part(`Content-Disposition: form-data; name="f"\r\nX-P: ${'a'.repeat(MAX_HEADER_BYTES - 'Content-Disposition: form-data; name="f"\r\nX-P: '.length - 4 + extra)}`, 'ok'), close]);
    for (const size of [atLimit(0).length, 4096, 7]) {
      expect(parse(B, cut(atLimit(0), size))[0]!.bytes.toString(), `pieces of ${size}`).to.equal('ok');
      expect(failure(B, cut(atLimit(1), size)).status, `pieces of ${size}`).to.equal(413);
    }
  });

  it('finds the boundary of a Content-Type, quoted or not', () => {
    expect(boundaryOf('multipart/form-data; boundary=abc')).to.equal('abc');
    expect(boundaryOf('multipart/form-data; boundary="a b;c"; charset=utf-8')).to.equal('a b;c');
    expect(boundaryOf('multipart/form-data; BOUNDARY=x; charset=utf-8')).to.equal('x');
    expect(boundaryOf('multipart/form-data')).to.equal(undefined);
    expect(boundaryOf(undefined)).to.equal(undefined);
  });
});
