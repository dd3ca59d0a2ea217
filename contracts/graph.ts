/** A ComfyUI workflow in API format ("Save (API)"): node id → node. */
export interface GraphNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string; apiinput?: string; [key: string]: unknown };
}
export type Graph = Record<string, GraphNode>;
