/**
 * The playground page: pick a workflow, fill the form /workflow-info describes, run it, watch the
 * progress bar fed by the websocket, see the results inline, interrupt, browse recent history.
 * Built by the playground plugin with esbuild; it uses the client SDK (client/src) like any app.
 */
import { BridgeApiError, ComfyBridgeClient, GenerationFailedError, type AnyWorkflows, type Generation } from '../../../client/src/index.js';
import { byId, h } from './dom.js';
import { buildForm, type InputForm } from './form.js';
import { historyRow, resultElement } from './results.js';

const KEY_STORAGE = 'comfy-bridge-playground-key';
const baseUrl = new URL('./', location.href).href.replace(/\/$/, '');
const historyLimit = Number(document.body.dataset.historyLimit ?? 12);

const ui = {
  auth: byId<HTMLElement>('auth'),
  keyForm: byId<HTMLFormElement>('key-form'),
  key: byId<HTMLInputElement>('key'),
  authError: byId<HTMLElement>('auth-error'),
  app: byId<HTMLElement>('app'),
  workflow: byId<HTMLSelectElement>('workflow'),
  description: byId<HTMLElement>('workflow-description'),
  inputs: byId<HTMLFormElement>('inputs'),
  run: byId<HTMLButtonElement>('run-button'),
  interrupt: byId<HTMLButtonElement>('interrupt'),
  progress: byId<HTMLProgressElement>('progress'),
  status: byId<HTMLElement>('status'),
  results: byId<HTMLElement>('results'),
  history: byId<HTMLElement>('history'),
};

let client = connect();
let form: InputForm | undefined;
let running: Generation | undefined;

function connect(): ComfyBridgeClient<AnyWorkflows> {
  return new ComfyBridgeClient<AnyWorkflows>({ baseUrl, apiKey: sessionStorage.getItem(KEY_STORAGE) ?? undefined });
}

function say(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.status.textContent = text;
  ui.status.className = kind;
}

const explain = (error: unknown): string =>
  error instanceof BridgeApiError ? `${error.status} ${error.error}: ${error.detail}` : error instanceof Error ? error.message : String(error);

/** Lists the workflows; a 401/403 asks for a key, kept in sessionStorage for this tab only. */
async function start(): Promise<void> {
  try {
    const workflows = await client.listWorkflows();
    ui.auth.hidden = true;
    ui.app.hidden = false;
    ui.workflow.replaceChildren(...workflows.map((w) => h('option', { value: w.alias, 'data-description': w.description }, w.alias)));
    await showWorkflow();
    void refreshHistory();
  } catch (error) {
    if (error instanceof BridgeApiError && (error.status === 401 || error.status === 403)) {
      ui.auth.hidden = false;
      ui.app.hidden = true;
      ui.authError.textContent = sessionStorage.getItem(KEY_STORAGE) ? error.detail : '';
      ui.key.focus();
      return;
    }
    say(explain(error), 'error');
  }
}

async function showWorkflow(): Promise<void> {
  const alias = ui.workflow.value;
  ui.description.textContent = ui.workflow.selectedOptions[0]?.dataset.description ?? '';
  const inputs = await client.workflowInfo(alias);
  form = buildForm(inputs, async (key, file) => (await client.upload({ [key]: file }))[key]!);
  ui.inputs.replaceChildren(...form.fields);
  ui.inputs.dataset.workflow = alias;
}

async function run(): Promise<void> {
  if (!form || running) return;
  ui.results.replaceChildren();
  ui.progress.value = 0;
  ui.run.disabled = true;
  say('submitting…');
  try {
    running = await client.generate(ui.workflow.value, form.values());
    ui.interrupt.disabled = false;
    say(`queued (${running.id})`);
    for await (const frame of running.frames()) {
      if (frame.data?.percent !== undefined) ui.progress.value = frame.data.percent;
      say(frame.status === 'progress' ? `${frame.data?.state ?? 'running'} ${frame.details}` : frame.details, frame.status === 'error' ? 'error' : 'info');
    }
    const { urls } = await running.done();
    ui.progress.value = 100;
    ui.results.replaceChildren(...(await Promise.all(urls.map((url) => resultElement(client, url)))));
    say(`done: ${urls.length} file${urls.length === 1 ? '' : 's'}`);
  } catch (error) {
    say(error instanceof GenerationFailedError ? `${error.frame.data.state}: ${error.frame.details}` : explain(error), 'error');
  } finally {
    running = undefined;
    ui.run.disabled = false;
    ui.interrupt.disabled = true;
    void refreshHistory();
  }
}

async function refreshHistory(): Promise<void> {
  try {
    const page = await client.history({ limit: historyLimit });
    ui.history.replaceChildren(...(await Promise.all(page.history.map((item) => historyRow(client, item)))));
  } catch (error) {
    ui.history.replaceChildren(h('li', { class: 'error' }, explain(error)));
  }
}

ui.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, ui.key.value.trim());
  client = connect();
  void start();
});
ui.workflow.addEventListener('change', () => void showWorkflow().catch((error: unknown) => say(explain(error), 'error')));
ui.inputs.addEventListener('submit', (event) => {
  event.preventDefault();
  void run();
});
ui.interrupt.addEventListener('click', () => {
  say('interrupting…');
  void running?.interrupt().catch((error: unknown) => say(explain(error), 'error'));
});

void start();
