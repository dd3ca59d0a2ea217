import type { PyValue } from './py-json.js';
import { PyFloat } from './py-json.js';

/**
 * execution.PromptQueue: a Python heapq of (number, prompt_id, prompt, extra_data, outputs,
 * sensitive) tuples plus the history dict. GET /queue returns the heap array as is, which is
 * why `queue_pending` is not sorted; heappush/heappop/heapify are ported so the order matches.
 */

export type QueueItem = [number: number | PyFloat, promptId: string, prompt: PyValue, extraData: Record<string, PyValue>, outputs: string[], sensitive: Record<string, PyValue>];

export interface HistoryEntry {
  prompt: PyValue[];
  outputs: Record<string, PyValue>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: [string, Record<string, PyValue>][] } | null;
  meta: Record<string, PyValue>;
}

const numberOf = (n: number | PyFloat): number => (n instanceof PyFloat ? n.value : n);

function less(a: QueueItem, b: QueueItem): boolean {
  const na = numberOf(a[0]);
  const nb = numberOf(b[0]);
  if (na !== nb) return na < nb;
  return a[1] < b[1];
}

function siftDown(heap: QueueItem[], startPos: number, pos: number): void {
  const newItem = heap[pos];
  while (pos > startPos) {
    const parentPos = (pos - 1) >> 1;
    const parent = heap[parentPos];
    if (less(newItem, parent)) {
      heap[pos] = parent;
      pos = parentPos;
      continue;
    }
    break;
  }
  heap[pos] = newItem;
}

function siftUp(heap: QueueItem[], pos: number): void {
  const endPos = heap.length;
  const startPos = pos;
  const newItem = heap[pos];
  let childPos = 2 * pos + 1;
  while (childPos < endPos) {
    const rightPos = childPos + 1;
    if (rightPos < endPos && !less(heap[childPos], heap[rightPos])) childPos = rightPos;
    heap[pos] = heap[childPos];
    pos = childPos;
    childPos = 2 * pos + 1;
  }
  heap[pos] = newItem;
  siftDown(heap, startPos, pos);
}

export function heapPush(heap: QueueItem[], item: QueueItem): void {
  heap.push(item);
  siftDown(heap, 0, heap.length - 1);
}

export function heapPop(heap: QueueItem[]): QueueItem | undefined {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return last;
  const top = heap[0];
  heap[0] = last;
  siftUp(heap, 0);
  return top;
}

export function heapify(heap: QueueItem[]): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftUp(heap, i);
}

/** The 5-element public form (sensitive data removed) used by /queue and /history. */
export function publicItem(item: QueueItem): PyValue[] {
  return [item[0], item[1], item[2], item[3], item[4]];
}
