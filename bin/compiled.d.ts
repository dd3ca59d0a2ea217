/** True when dist/ holds compiled code no older than the sources beside it (bin/compiled.js). */
export function compiledIsFresh(root: URL): boolean;
