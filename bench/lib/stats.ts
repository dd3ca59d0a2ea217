export const percentile = (sorted: number[], p: number): number => {
  if (!sorted.length) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
};

export const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 50);

export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Runs `once` three times and keeps, for every metric, the median of the three. */
export async function medianOf3(once: () => Promise<Record<string, number>>): Promise<Record<string, number>> {
  const runs: Record<string, number>[] = [];
  for (let i = 0; i < 3; i++) runs.push(await once());
  return Object.fromEntries(Object.keys(runs[0]!).map((key) => [key, round(median(runs.map((r) => r[key]!)), 3)]));
}
