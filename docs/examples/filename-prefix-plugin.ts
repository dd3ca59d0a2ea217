/**
 * A complete example plugin (docs/writing-a-plugin.md): it rewrites every graph before submission so
 * saved files are named after the workflow, and adds a route that reports how many graphs it rewrote.
 * Enable it with `pluginModules: ['../docs/examples/filename-prefix-plugin.ts']` (relative to the config file) and
 * `plugins: { filename-prefix: { prefix: 'bridge' } }`.
 */
import { definePlugin } from '../../core/plugin.js';
import { STAGE } from '../../core/hooks.js';

const PLUGIN = 'filename-prefix';

interface Options {
  prefix: string;
}

export default definePlugin<Options>({
  name: PLUGIN,
  description: 'Example: names saved files <prefix>_<workflow> and counts the graphs it rewrote.',
  // The generations service owns the beforeSubmit hook; without it there is nothing to rewrite.
  optionalDependencies: ['generations'],
  options: {
    type: 'object',
    additionalProperties: false,
    properties: { prefix: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$', default: 'bridge' } },
  },
  register(ctx) {
    let rewritten = 0;

    ctx.tryUse('generations')?.hooks.beforeSubmit.tap({ name: PLUGIN, stage: STAGE.DEFAULT }, (graph, info) => {
      for (const node of Object.values(graph)) {
        if (node.class_type === 'SaveImage') node.inputs.filename_prefix = `${ctx.options.prefix}_${info.workflow}`;
      }
      rewritten += 1;
      return graph;
    });

    ctx.route({
      method: 'get',
      path: '/filename-prefix/stats',
      summary: 'How many graphs the example plugin rewrote',
      scope: 'admin',
      responses: { '200': { description: 'Counts.', schema: { type: 'object', properties: { rewritten: { type: 'integer' } } } } },
      handler(http) {
        http.body = { rewritten };
      },
    });
  },
});
