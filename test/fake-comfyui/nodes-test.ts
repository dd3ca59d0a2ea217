import { PyFloat } from './py-json.js';
import { NodeExecutionError, type NodeDef } from './node-types.js';
import { pyTraceback } from './save-images.js';

/**
 * Test nodes. TestSleep is ComfyUI's own (tests/execution/testing_nodes, loaded with
 * COMFY_TEST_NODES=1): it reports progress with max = `seconds`. In the fake it lasts the node
 * duration (setNodeDuration('TestSleep', ms)), not `seconds`, so tests stay fast.
 * FailingNode is the fake's own: it always raises at run time.
 */

const PROGRESS_TICKS = 5;

export const TestSleep: NodeDef = {
  name: 'TestSleep',
  outputNode: false,
  returnTypes: ['*'],
  reportsProgress: true,
  info: () => ({
    input: {
      required: {
        value: ['*', {}],
        seconds: ['FLOAT', { default: new PyFloat(1), min: new PyFloat(0), max: new PyFloat(9999), step: 0.01, tooltip: 'The amount of seconds to sleep.' }],
      },
      hidden: { unique_id: 'UNIQUE_ID' },
    },
    input_order: { required: ['value', 'seconds'], hidden: ['unique_id'] },
    output: ['*'],
    output_is_list: [false],
    output_name: ['*'],
    name: 'TestSleep',
    display_name: 'Test Sleep',
    description: '',
    python_module: 'custom_nodes.testing-pack',
    category: '_for_testing',
    output_node: false,
  }),
  async run(inputs, ctx) {
    const seconds = Number(inputs.seconds);
    for (let tick = 0; tick <= PROGRESS_TICKS; tick++) {
      if (tick > 0) await ctx.sleep(ctx.durationMs / PROGRESS_TICKS);
      await ctx.progress(new PyFloat((seconds * tick) / PROGRESS_TICKS), new PyFloat(seconds));
    }
    return { outputs: [inputs.value] };
  },
};

export const FailingNode: NodeDef = {
  name: 'FailingNode',
  outputNode: false,
  returnTypes: ['IMAGE'],
  info: () => ({
    input: {
      required: { message: ['STRING', { default: 'FailingNode always fails' }] },
      optional: { value: ['*', {}] },
    },
    input_order: { required: ['message'], optional: ['value'] },
    output: ['IMAGE'],
    output_is_list: [false],
    output_name: ['IMAGE'],
    name: 'FailingNode',
    display_name: 'Failing Node',
    description: 'Always raises when executed (fake ComfyUI test node).',
    python_module: 'custom_nodes.fake-testing',
    category: '_for_testing',
    output_node: false,
  }),
  async run(inputs) {
    throw new NodeExecutionError(String(inputs.message), 'RuntimeError', pyTraceback([['custom_nodes/fake-testing/nodes.py', 12, 'fail', 'raise RuntimeError(message)']]));
  },
};
