import type { components, operations } from './api.js';

/** Friendly names for the generated OpenAPI types (src/api.ts). */
type Schemas = components['schemas'];

export type ErrorBody = Schemas['Error'];
export type StatusFrame = Schemas['StatusFrame'];
export type FrameData = Schemas['FrameData'];
export type SocketFrame = Schemas['SocketFrame'];
export type HistoryItem = Schemas['HistoryItem'];
export type WorkflowSummary = Schemas['WorkflowSummary'];
export type WorkflowInput = Schemas['WorkflowInput'];
export type Queued = Schemas['Queued'];
export type GenerationState = FrameData['state'];

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
export type HistoryPage = Json<operations['getHistory']['responses'][200]>;
export type HistoryQuery = NonNullable<operations['getHistory']['parameters']['query']>;
export type GenerationCount = Json<operations['getGenerationCount']['responses'][200]>;
export type InterruptAnswer = Json<operations['postInterrupt']['responses'][200]>;

/** The generate body of every workflow the types were generated with: one variant per alias. */
type GenerateBody = GenerateBodyOf<operations>;

/** alias → the inputs that workflow takes ("<node>/<input>" → value), derived from a generated `operations` type. */
export type WorkflowsOf<Body extends { workflow: string }> = {
  [A in Body['workflow']]: Omit<Extract<Body, { workflow: A }>, 'workflow' | 'clientId' | 'wait'>;
};

/** The workflows shipped in workflows/ (the types in src/api.ts); regenerate for your own (docs/client.md). */
export type ShippedWorkflows = WorkflowsOf<GenerateBody>;

/** Any alias with any inputs: for apps that do not generate types for their workflows. */
export type AnyWorkflows = Record<string, Record<string, string | number | boolean>>;

export type WorkflowMap = Record<string, object>;

/** The generate body union of a generated `operations` type (openapi-typescript of your bridge's /openapi.json). */
export type GenerateBodyOf<Ops extends { postGenerateBasedWorkflow: { requestBody?: { content: { 'application/json': { workflow: string } } } } }> = NonNullable<
  Ops['postGenerateBasedWorkflow']['requestBody']
>['content']['application/json'];

/** alias → inputs, from the `operations` type openapi-typescript generated for your bridge. */
export type WorkflowsFromApi<Ops extends { postGenerateBasedWorkflow: { requestBody?: { content: { 'application/json': { workflow: string } } } } }> = WorkflowsOf<
  GenerateBodyOf<Ops>
>;
