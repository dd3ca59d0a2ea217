import type { Stats } from 'node:fs';
import type { ResultFile } from '../../contracts/generation.js';

/** Strong validator: the content hash recorded at copy time, plus size and mtime (a rewrite changes it). */
export function etagOf(result: ResultFile, stats: Pick<Stats, 'size' | 'mtimeMs'>): string {
  const mtime = Math.floor(stats.mtimeMs).toString(36);
  const hash = result.sha256 ? `${result.sha256.slice(0, 24)}-` : '';
  return `"${hash}${stats.size.toString(36)}-${mtime}"`;
}

/** If-None-Match: `*`, or a list of tags compared weakly (RFC 9110 §13.1.2). */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare);
}

/** If-Modified-Since, used only without If-None-Match. */
export function notModifiedSince(header: string | undefined, stats: Pick<Stats, 'size' | 'mtimeMs'>): boolean {
  if (!header) return false;
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(stats.mtimeMs / 1000) * 1000 <= since;
}

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range (RFC 9110 §14.2). Several ranges, other units or bad syntax are ignored
 * (the whole file is sent, as the RFC allows); a well-formed range past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
