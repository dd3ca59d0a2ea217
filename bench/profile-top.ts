/**
 * The top functions of a V8 .cpuprofile by self time, as a markdown table (for docs/performance.md).
 * Usage: `npx tsx bench/profile-top.ts FILE.cpuprofile [N]` (N defaults to 10). Idle time and garbage
 * collection are listed as V8 names them; percentages are of the busy (non-idle) samples.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function topSelf(profile: Profile, n: number): { name: string; where: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (frame.functionName === '(idle)') return;
    busy += us;
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules\/|core\/|plugins\/|contracts\/|bench\/)/, '$1')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = self.get(key) ?? { name: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    self.set(key, entry);
  });
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map(({ name, where, us }) => ({ name, where, ms: Math.round(us / 100) / 10, share: Math.round((us / busy) * 1000) / 10 }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, count] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/profile-top.ts FILE.cpuprofile [N]');
  const rows = topSelf(JSON.parse(await readFile(file, 'utf8')) as Profile, Number(count ?? 10));
  process.stdout.write('| # | function | where | self ms | % of busy |\n|---|---|---|---|---|\n');
  rows.forEach((row, i) => process.stdout.write(`| ${i + 1} | \`${row.name}\` | ${row.where} | ${row.ms} | ${row.share} % |\n`));
}
