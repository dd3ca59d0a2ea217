import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWorkflowDir } from '../plugins/workflows/load-workflows.js';

const GRAPH = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'w', images: ['1', 0] } },
};

describe('workflows: the manifest warm-up mark', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warmup-manifest-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const load = async (manifests: Record<string, string>) => {
    for (const [name, text] of Object.entries(manifests)) {
      await writeFile(join(dir, `${name}.json`), JSON.stringify(GRAPH));
      await writeFile(join(dir, `${name}.workflow.yaml`), text);
    }
    await writeFile(join(dir, 'unmarked.json'), JSON.stringify(GRAPH));
    return loadWorkflowDir(dir);
  };

  it('reads true, {inputs} and false, and leaves an unmarked workflow unmarked', async () => {
    const { workflows, errors } = await load({ plain: 'warmup: true\n', sized: 'warmup:\n  inputs:\n    1/width: 64\n', off: 'warmup: false\n' });
    expect(errors).to.deep.equal([]);
    expect(workflows.get('plain')?.warmup).to.deep.equal({ inputs: {} });
    expect(workflows.get('sized')?.warmup).to.deep.equal({ inputs: { '1/width': 64 } });
    expect(workflows.get('off')?.warmup).to.equal(undefined);
    expect(workflows.get('unmarked')?.warmup).to.equal(undefined);
    // The graph keeps its defaults: the warm-up values apply to the warm-up run only.
    expect(workflows.get('sized')?.graph['1']?.inputs.width).to.equal(8);
  });

  it('skips a manifest whose warm-up names an input the graph lacks, or has unknown keys, saying why', async () => {
    const { workflows, errors } = await load({ typo: 'warmup:\n  inputs:\n    1/widht: 64\n', odd: 'warmup:\n  input: {}\n', number: 'warmup: 3\n' });
    expect([...workflows.keys()]).to.deep.equal(['unmarked']);
    const reason = (file: string) => errors.find((e) => e.file === file)?.reason ?? '';
    expect(reason('typo.workflow.yaml')).to.contain('/warmup/inputs/1/widht names no input of the graph');
    expect(reason('odd.workflow.yaml')).to.contain('bad manifest');
    expect(reason('number.workflow.yaml')).to.contain('bad manifest');
  });
});
