import type { WorkflowInput } from '../../../client/src/index.js';
import { h } from './dom.js';

export type Upload = (key: string, file: File) => Promise<string>;

/** The form of one workflow: a field per designated input, and how to read its values. */
export interface InputForm {
  fields: HTMLElement[];
  /** "<node>/<input>" → value, for generate(). Image inputs without a new file are left out (the default stays). */
  values(): Record<string, string | number | boolean>;
}

/** Builds the fields from /workflow-info: numbers with min/max/step, option lists, multiline text, images. */
export function buildForm(inputs: Record<string, WorkflowInput>, upload: Upload): InputForm {
  const readers: [string, () => string | number | boolean | undefined][] = [];
  const fields = Object.entries(inputs).map(([key, input]) => {
    const id = `input-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const [control, read] = control_(id, key, input, upload);
    readers.push([key, read]);
    const label = h('label', { for: id }, input.title, h('code', {}, key));
    const help = input.description ? h('small', {}, input.description) : '';
    return h('div', { class: 'field', 'data-key': key }, label, control, help);
  });
  return {
    fields,
    values: () => {
      const values: Record<string, string | number | boolean> = {};
      for (const [key, read] of readers) {
        const value = read();
        if (value !== undefined) values[key] = value;
      }
      return values;
    },
  };
}

function control_(id: string, key: string, input: WorkflowInput, upload: Upload): [HTMLElement, () => string | number | boolean | undefined] {
  const initial = input.default as string | number | boolean | undefined;
  if (input.kind === 'image') return imageField(id, key, String(initial ?? ''), upload);
  if (Array.isArray(input.options) && input.options.length) {
    const select = h('select', { id, name: key }, ...input.options.map((option) => h('option', { value: String(option), selected: option === initial }, String(option))));
    return [select, () => typed(input.type, select.value)];
  }
  if (input.type === 'bool') {
    const box = h('input', { id, name: key, type: 'checkbox', checked: initial === true });
    return [box, () => box.checked];
  }
  if (input.type === 'int' || input.type === 'float') {
    const number = h('input', {
      id,
      name: key,
      type: 'number',
      value: initial as number,
      min: input.min,
      max: input.max,
      step: input.step ?? (input.type === 'int' ? 1 : 'any'),
      required: true,
    });
    return [number, () => (number.value === '' ? undefined : typed(input.type, number.value))];
  }
  if (input.multiline) {
    const area = h('textarea', { id, name: key, rows: 3 }, String(initial ?? ''));
    return [area, () => area.value];
  }
  const text = h('input', { id, name: key, type: 'text', value: String(initial ?? '') });
  return [text, () => text.value];
}

const typed = (type: string, raw: string): string | number => (type === 'int' ? Number.parseInt(raw, 10) : type === 'float' ? Number.parseFloat(raw) : raw);

/** A drop zone with a file picker: the image is previewed, uploaded at once, and its stored name used. */
function imageField(id: string, key: string, shipped: string, upload: Upload): [HTMLElement, () => string | undefined] {
  let stored: string | undefined;
  const picker = h('input', { id, name: key, type: 'file', accept: 'image/*' });
  const preview = h('img', { class: 'preview', alt: '', hidden: true });
  const note = h('span', { class: 'note' }, shipped ? `default: ${shipped}` : 'drop an image');
  const zone = h('div', { class: 'drop', tabindex: 0 }, preview, note, picker);
  const take = async (file: File): Promise<void> => {
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    note.textContent = `uploading ${file.name}…`;
    zone.dataset.state = 'uploading';
    try {
      stored = await upload(key, file);
      note.textContent = `uploaded as ${stored}`;
      zone.dataset.state = 'uploaded';
    } catch (error) {
      stored = undefined;
      note.textContent = (error as Error).message;
      zone.dataset.state = 'error';
    }
  };
  picker.addEventListener('change', () => void (picker.files?.[0] && take(picker.files[0])));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const file = event.dataTransfer?.files[0];
    if (file) void take(file);
  });
  return [zone, () => stored];
}
