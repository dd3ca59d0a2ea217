/** Minimal multipart/form-data and urlencoded form reader for POST /upload/image. */

export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export function parseForm(contentType: string | undefined, body: Buffer): FormPart[] {
  const type = contentType ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return [...new URLSearchParams(body.toString('utf8'))].map(([name, value]) => ({ name, data: Buffer.from(value) }));
  }
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(type);
  if (!type.startsWith('multipart/form-data') || !m) return [];
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(boundary);
  while (pos !== -1) {
    const start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd === -1) break;
    const next = body.indexOf(boundary, headerEnd);
    if (next === -1) break;
    const headers = body.subarray(start + 2, headerEnd).toString('utf8');
    const data = body.subarray(headerEnd + 4, next - 2); // strip the CRLF before the boundary
    const disposition = /content-disposition:([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    const ct = /content-type:\s*([^\r\n]*)/i.exec(headers)?.[1];
    if (name !== undefined) parts.push({ name, filename, contentType: ct, data });
    pos = next;
  }
  return parts;
}
