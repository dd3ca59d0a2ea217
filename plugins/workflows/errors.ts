import type { WorkflowLoadProblem } from '../../plugins/workflows/api.js';

/** Why one workflow file was skipped at load; logged at warn and kept for `registry.errors()`. */
export type WorkflowLoadError = WorkflowLoadProblem;

/** Thrown while reading one workflow; the loader turns it into a WorkflowLoadError and skips the file. */
export class WorkflowFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'WorkflowFileError';
  }
}
