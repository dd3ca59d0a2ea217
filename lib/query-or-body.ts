import { badRequest } from '../core/errors.js';

type Params<K extends string> = Partial<Record<K, string>>;

/** A parameter a route takes in the query or in the body: either place, or both when they agree (else 400). */
export function fromQueryOrBody<K extends string>(name: K, query: Params<K>, body: Params<K>): string | undefined {
  if (query[name] !== undefined && body[name] !== undefined && query[name] !== body[name]) {
    throw badRequest(`the ${name} in the query and the one in the body differ`);
  }
  return query[name] ?? body[name];
}
