import { koaBody } from 'koa-body';
import type { Middleware } from 'koa';
import { badRequest, payloadTooLarge } from '../errors.js';

/**
 * JSON bodies only: multipart stays unparsed so the upload plugin can stream it to disk with its
 * own limits (formidable under koa-body allows unlimited files by default).
 */
export function jsonBody(limitBytes: number): Middleware {
  const parse = koaBody({
    json: true,
    jsonStrict: true,
    jsonLimit: limitBytes,
    multipart: false,
    urlencoded: false,
    text: false,
    onError: (error) => {
      const status = (error as { status?: number }).status;
      if (status === 413) throw payloadTooLarge(`the JSON body is larger than ${limitBytes} bytes`);
      throw badRequest(`malformed JSON body: ${error.message}`);
    },
  }) as unknown as Middleware;
  return parse;
}
