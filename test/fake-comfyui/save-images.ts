import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { imageToPng, type FakeImage } from './images.js';
import { pyDumps, type PyValue } from './py-json.js';
import { NodeExecutionError } from './node-types.js';

/** ComfyUI's traceback.format_tb() shape: one "  File ..., line N, in fn\n    code\n" string per frame. */
export function pyTraceback(frames: [file: string, line: number, fn: string, code: string][]): string[] {
  const head: [string, number, string, string][] = [
    ['execution.py', 496, 'execute', 'output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)'],
    ['execution.py', 315, 'get_output_data', 'return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)'],
    ['execution.py', 289, '_async_map_node_over_list', 'await process_inputs(input_dict, i)'],
    ['execution.py', 277, 'process_inputs', 'result = f(**inputs)'],
  ];
  return [...head, ...frames].map(([file, line, fn, code]) => `  File "/opt/ComfyUI/${file}", line ${line}, in ${fn}\n    ${code}\n`);
}

/** folder_paths.get_save_image_path: the subfolder, the base name and the next free counter. */
export function saveImagePath(prefix: string, outputDir: string): { folder: string; subfolder: string; filename: string; counter: number } {
  const normalized = path.posix.normalize(prefix);
  const subfolder = path.posix.dirname(normalized) === '.' ? '' : path.posix.dirname(normalized);
  const filename = path.posix.basename(normalized);
  const folder = path.resolve(outputDir, subfolder);
  const rel = path.relative(outputDir, folder);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    const common = commonPath(outputDir, folder);
    throw new NodeExecutionError(
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${folder}\n         output_dir: ${outputDir}\n         commonpath: ${common}\n`,
      'Exception',
      pyTraceback([
        ['nodes.py', 1590, 'save_images', 'full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(filename_prefix, self.output_dir, images[0].shape[1], images[0].shape[0])'],
        ['folder_paths.py', 397, 'get_save_image_path', 'raise Exception(err)'],
      ]),
    );
  }
  let counter = 1;
  if (existsSync(folder)) {
    for (const name of readdirSync(folder)) {
      // map_filename: "<prefix>_<digits>_..." → digits
      if (!name.startsWith(filename + '_')) continue;
      const digits = Number.parseInt(name.slice(filename.length + 1).split('_')[0], 10);
      if (Number.isFinite(digits) && digits + 1 > counter) counter = digits + 1;
    }
  } else mkdirSync(folder, { recursive: true });
  return { folder, subfolder, filename, counter };
}

function commonPath(a: string, b: string): string {
  const pa = a.split(path.sep);
  const pb = b.split(path.sep);
  const out: string[] = [];
  for (let i = 0; i < Math.min(pa.length, pb.length) && pa[i] === pb[i]; i++) out.push(pa[i]);
  return out.join(path.sep) || path.sep;
}

/** SaveImage/PreviewImage: writes `<prefix>_<counter:05>_.png` files with the prompt as PNG text. */
export function saveImages(
  images: FakeImage[],
  prefix: string,
  dir: string,
  type: 'output' | 'temp',
  prompt: PyValue,
  extraPnginfo: Record<string, PyValue> | undefined,
): { filename: string; subfolder: string; type: string }[] {
  const { folder, subfolder, filename, counter: start } = saveImagePath(prefix, dir);
  const text: Record<string, string> = { prompt: pyDumps(prompt) };
  for (const [k, v] of Object.entries(extraPnginfo ?? {})) text[k] = pyDumps(v);
  const results: { filename: string; subfolder: string; type: string }[] = [];
  images.forEach((img, batchNumber) => {
    const name = `${filename.replace('%batch_num%', String(batchNumber))}_${String(start + batchNumber).padStart(5, '0')}_.png`;
    writeFileSync(path.join(folder, name), imageToPng(img, text));
    results.push({ filename: name, subfolder, type });
  });
  return results;
}
