/**
 * Tags in the order the docs read: what a client does first comes first. A tag a plugin outside
 * this list uses goes after them, in the order its routes were mounted.
 */
const KNOWN: readonly { name: string; description: string }[] = [
  { name: 'workflows', description: 'The workflows clients may run and their designated inputs.' },
  { name: 'uploads', description: 'Images for the image inputs of a workflow.' },
  { name: 'generations', description: 'Start a generation, follow it (websocket or polling), interrupt it.' },
  { name: 'results', description: 'The files a generation produced.' },
  { name: 'history', description: 'Past generations and counts.' },
  { name: 'operations', description: 'Health, readiness, metrics and backend memory: for operators.' },
  { name: 'documentation', description: 'This document, the reference page and the playground.' },
];

export function orderedTags(used: readonly string[]): { name: string; description?: string }[] {
  const present = new Set(used);
  const known = KNOWN.filter((tag) => present.has(tag.name));
  const others = [...present].filter((name) => !KNOWN.some((tag) => tag.name === name)).map((name) => ({ name }));
  return [...known, ...others];
}
