import { isAdmin, type Principal } from '../../contracts/auth.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { Workflow, WorkflowInput } from '../../plugins/workflows/api.js';
import { badRequest } from '../../core/errors.js';

export interface ImageCheck {
  workflow: Workflow;
  inputs: Record<string, WorkflowInput>;
  values: Record<string, unknown>;
  clientId: string;
  principal: Principal;
  uploads: UploadService | undefined;
}

/** Image inputs whose value (given or default) is a file the workflow ships: key → absolute path. */
export function shippedImageInputs(workflow: Workflow, inputs: Record<string, WorkflowInput>, values: Record<string, unknown>): Record<string, string> {
  const shipped: Record<string, string> = {};
  for (const [key, input] of Object.entries(inputs)) {
    if (input.kind !== 'image') continue;
    const name = Object.hasOwn(values, key) ? values[key] : input.default;
    const path = typeof name === 'string' ? workflow.shippedFilePaths?.[name] : undefined;
    if (path) shipped[key] = path;
  }
  return shipped;
}

/**
 * Image inputs may only name an upload of this client, a file the workflow ships, or the default —
 * never another client's upload or an arbitrary file in ComfyUI's input folder.
 * Resolves with the inputs that use stored uploads ("<node>/<input>" → upload name).
 */
export async function checkImageInputs({ workflow, inputs, values, clientId, principal, uploads }: ImageCheck): Promise<Record<string, string>> {
  const used: Record<string, string> = {};
  const refused: string[] = [];
  for (const [key, input] of Object.entries(inputs)) {
    if (input.kind !== 'image' || !Object.hasOwn(values, key)) continue;
    const name = values[key];
    if (typeof name !== 'string') continue; // the schema already refused it
    const upload = await uploads?.find(name, clientId, principal);
    // With auth off every caller is the anonymous admin, whom the upload service lets use any
    // client's file; an upload still belongs to one clientId (SPEC §2.3), so only a real admin key crosses that line.
    if (upload && (upload.clientId === clientId || (isAdmin(principal) && !principal.anonymous))) used[key] = upload.name;
    else if (!workflow.shippedFiles.includes(name) && name !== input.default) refused.push(key);
  }
  if (refused.length > 0) {
    const keys = refused.map((key) => JSON.stringify(key)).join(', ');
    throw badRequest(
      `${keys}: not an image uploaded by client ${clientId} (POST /upload?clientId=${clientId}) nor a file workflow "${workflow.alias}" ships`,
    );
  }
  return used;
}
