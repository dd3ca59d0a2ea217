type Doc = Record<string, unknown>;

/** A node of @seald-io/binary-search-tree's AVL tree (the parts set here). */
interface AvlNode {
  key?: unknown;
  data: Doc[];
  left: AvlNode | null;
  right: AvlNode | null;
  parent: AvlNode | null;
  height?: number;
  unique: boolean;
  compareKeys: unknown;
  checkValueEquality: unknown;
}

/** nedb's Index (the parts used here): `tree.tree` is the root of its AVL tree. */
export interface NedbIndexLike {
  fieldName: string;
  tree: { tree: AvlNode };
  reset(newData?: Doc[] | Doc): void;
}

/**
 * Fills nedb's (empty, just reset) `_id` index from rows in ascending string `_id` order, each id
 * once, as one balanced tree built top-down: nedb inserts row by row, each insert walking from the
 * root and rebalancing its path — a sixth of a 100k-row load. The tree is the one nedb would hold
 * (same node class, keys, data arrays, heights; every node's subtrees differ in height by at most
 * one), so nedb's later inserts, deletes and lookups work on it unchanged.
 * Returns false (the index untouched) unless the rows are as required. `checked`: the caller has already checked
 * that the ids are strings in strictly ascending order (the load does, as it reads them: LoadedDatafile.sortedById),
 * which is not checked again (100k string comparisons).
 */
export function fillSortedIdIndex(index: NedbIndexLike, rows: Doc[], checked = false): boolean {
  const root = index.tree.tree;
  if (index.fieldName !== '_id' || rows.length === 0 || Object.prototype.hasOwnProperty.call(root, 'key')) return false;
  if (!checked && !idsAscend(rows)) return false;
  // The node class's constructor takes an options object and tests it with hasOwnProperty: most of the build's
  // time. A node is made here with the same fields, set in the constructor's order (one hidden class for all).
  const proto = Object.getPrototypeOf(root) as object;
  const { unique, compareKeys, checkValueEquality } = root;
  const build = (parent: AvlNode, lo: number, hi: number): AvlNode | null => {
    if (lo > hi) return null;
    const mid = (lo + hi) >>> 1;
    const row = rows[mid] as Doc;
    const node = Object.create(proto) as AvlNode;
    node.left = null;
    node.right = null;
    node.parent = parent;
    node.key = row._id;
    node.data = [row];
    node.unique = unique;
    node.compareKeys = compareKeys;
    node.checkValueEquality = checkValueEquality;
    fill(node, lo, mid, hi);
    return node;
  };
  const fill = (node: AvlNode, lo: number, mid: number, hi: number): void => {
    node.left = build(node, lo, mid - 1);
    node.right = build(node, mid + 1, hi);
    node.height = 1 + Math.max(node.left?.height ?? 0, node.right?.height ?? 0);
  };
  const mid = (rows.length - 1) >>> 1;
  const top = rows[mid] as Doc;
  root.key = top._id;
  root.data.push(top);
  fill(root, 0, mid, rows.length - 1);
  return true;
}

/** Whether every id is a string, each greater than the one before it. */
function idsAscend(rows: Doc[]): boolean {
  let previous: string | undefined;
  for (const row of rows) {
    const id = row._id;
    if (typeof id !== 'string' || (previous !== undefined && !(previous < id))) return false;
    previous = id;
  }
  return true;
}

/**
 * The `_id` index's own array of rows for `id` (what its tree's search returns), or undefined where nedb's
 * search must answer instead (an empty tree, a key that is not a string). nedb's search compares through
 * model.compareThings, a call and a run of type tests at every level, plus a hasOwnProperty per node; two
 * strings it orders as `<` does (no datastore here sets a compareStrings of its own), so the walk uses `<`.
 */
export function idRows(index: NedbIndexLike, id: string): Doc[] | undefined {
  let node: AvlNode | null = index.tree.tree;
  while (node !== null) {
    const key: unknown = node.key;
    if (typeof key !== 'string') return undefined;
    if (key === id) return node.data;
    node = id < key ? node.left : node.right;
  }
  return [];
}
