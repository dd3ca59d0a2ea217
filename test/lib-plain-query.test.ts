import { expect } from 'chai';
import { parsePlainQuery } from '../lib/plain-query.js';

/** Koa's own ctx.query parser (koa/lib/search-params.js), restated: the parser parsePlainQuery must agree with. */
function koaQuery(raw: string): Record<string, string | string[]> {
  const params = new URLSearchParams(raw);
  const query: Record<string, string | string[]> = {};
  for (const key of params.keys()) {
    const values = params.getAll(key);
    Object.defineProperty(query, key, { value: values.length <= 1 ? values[0] : values, writable: true, enumerable: true, configurable: true });
  }
  return query;
}

describe('lib: parsePlainQuery', () => {
  it('parses plain query strings exactly as Koa does: order, repeats, empty values and pieces, odd keys', () => {
    const cases = [
      '',
      'workflow=text-to-image',
      'a=1&b=2&a=3&a=4',
      'a&b=&=c&&d==e',
      'constructor=y&toString=z&hasOwnProperty=1&valueOf',
      'limit=10&offset=0&state=completed&clientId=abc-123',
      "k=a,b:c;d!e$f'g(h)i*j@k/l~n.o_p",
    ];
    for (const raw of cases) expect({ ...parsePlainQuery(raw) }, raw).to.deep.equal({ ...koaQuery(raw) });
  });

  it('agrees with Koa on many random strings of its alphabet', () => {
    const alphabet = 'ab=&=&_.-~,:;!$()*@/07';
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 2000; n++) {
      const raw = Array.from({ length: Math.floor(random() * 16) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const parsed = parsePlainQuery(raw);
      expect(parsed, raw).not.to.equal(undefined);
      expect(Object.entries(parsed!), raw).to.deep.equal(Object.entries(koaQuery(raw)));
    }
  });

  it('leaves escapes, "+" and anything outside plain ASCII to Koa', () => {
    for (const raw of ['a=%20', 'a=b+c', 'a=é', 'a=b c', 'a=%zz', 'a=[1]', 'a={}', 'a="x"', 'a=#', '?a=1', 'a=1?b']) expect(parsePlainQuery(raw), raw).to.equal(undefined);
  });

  it('leaves a __proto__ key to Koa, and reads keys named like Object methods as data', () => {
    expect(parsePlainQuery('__proto__=polluted')).to.equal(undefined);
    expect(parsePlainQuery('a=1&__proto__')).to.equal(undefined);
    expect(parsePlainQuery('constructor=1&constructor=2&toString=3')).to.deep.equal({ constructor: ['1', '2'], toString: '3' });
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });
});
