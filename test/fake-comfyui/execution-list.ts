import type { RawPrompt } from './validate.js';

/**
 * comfy_execution.graph.ExecutionList: which node runs next. Ported so node order matches the
 * real server: depth-first staging from the output nodes, then the ux_friendly_pick_node rule
 * (an output node first, then a node that feeds an output, then one two links away).
 */
export class ExecutionList {
  private readonly pending = new Map<string, true>();
  private readonly blockCount = new Map<string, number>();
  private readonly blocking = new Map<string, Map<string, true>>();

  constructor(
    private readonly prompt: RawPrompt,
    private readonly isCached: (nodeId: string) => boolean,
    private readonly isOutput: (nodeId: string) => boolean,
  ) {}

  private links(nodeId: string): [string, string][] {
    const out: [string, string][] = [];
    for (const value of Object.values(this.prompt[nodeId]?.inputs ?? {})) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && value[0] in this.prompt) out.push([value[0], nodeId]);
    }
    return out;
  }

  addNode(nodeId: string): void {
    const stack = [nodeId];
    const links: [string, string][] = [];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (this.pending.has(id)) continue;
      this.pending.set(id, true);
      this.blockCount.set(id, 0);
      this.blocking.set(id, new Map());
      for (const link of this.links(id)) {
        if (!this.isCached(link[0])) stack.push(link[0]);
        links.push(link);
      }
    }
    for (const [from, to] of links) {
      if (this.isCached(from)) continue;
      this.addNode(from);
      const blocked = this.blocking.get(from) as Map<string, true>;
      if (!blocked.has(to)) {
        blocked.set(to, true);
        this.blockCount.set(to, (this.blockCount.get(to) ?? 0) + 1);
      }
    }
  }

  isEmpty(): boolean {
    return this.pending.size === 0;
  }

  /** The next node to run (undefined only for a cycle, which validation already excludes). */
  next(): string | undefined {
    const ready = [...this.pending.keys()].filter((id) => this.blockCount.get(id) === 0);
    const outputs = (id: string): boolean => this.isOutput(id);
    const blockedBy = (id: string): string[] => [...(this.blocking.get(id)?.keys() ?? [])];
    return (
      ready.find(outputs) ??
      ready.find((id) => blockedBy(id).some(outputs)) ??
      ready.find((id) => blockedBy(id).some((b) => blockedBy(b).some(outputs))) ??
      ready[0]
    );
  }

  complete(nodeId: string): void {
    this.pending.delete(nodeId);
    for (const to of this.blocking.get(nodeId)?.keys() ?? []) this.blockCount.set(to, (this.blockCount.get(to) ?? 1) - 1);
    this.blocking.delete(nodeId);
  }
}
