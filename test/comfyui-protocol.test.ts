import { expect } from 'chai';
import {
  describeRejection,
  foundInHistory,
  outputsOfHistory,
  outputsOfNode,
  queuePlace,
  queuePlaces,
  readJob,
  toLookup,
} from '../plugins/comfyui/protocol.js';

// Payloads below are excerpts of the real ComfyUI 0.3.64 captures (test/fixtures/comfyui-protocol).

describe('comfyui protocol readers', () => {
  describe('outputs', () => {
    it('lists every file list of a node output and skips flags and text', () => {
      const refs = outputsOfNode('9', {
        images: [{ filename: 'a_00001_.png', subfolder: 'nested/dir', type: 'output' }],
        gifs: [{ filename: 'b.webp', subfolder: '', type: 'temp', format: 'image/webp' }],
        animated: [false],
        text: ['width: 40'],
      });
      expect(refs).to.deep.equal([
        { node: '9', kind: 'images', filename: 'a_00001_.png', subfolder: 'nested/dir', type: 'output' },
        { node: '9', kind: 'gifs', filename: 'b.webp', subfolder: '', type: 'temp' },
      ]);
    });

    it('ignores outputs that are not objects', () => {
      expect(outputsOfNode('1', null)).to.deep.equal([]);
      expect(outputsOfNode('1', [1, 2])).to.deep.equal([]);
      expect(outputsOfHistory('nope')).to.deep.equal([]);
    });

    it('collects outputs of all nodes of a history entry', () => {
      const refs = outputsOfHistory({
        '2': { images: [{ filename: 'success_00001_.png', subfolder: '', type: 'output' }] },
        '5': { images: [{ filename: 'ComfyUI_temp_x.png', subfolder: '', type: 'temp' }] },
      });
      expect(refs.map((r) => `${r.node}:${r.filename}:${r.type}`)).to.deep.equal([
        '2:success_00001_.png:output',
        '5:ComfyUI_temp_x.png:temp',
      ]);
    });
  });

  describe('history entries', () => {
    it('reads a success', () => {
      const found = foundInHistory({
        outputs: { '2': { images: [{ filename: 'success_00001_.png', subfolder: '', type: 'output' }] } },
        status: {
          status_str: 'success',
          completed: true,
          messages: [
            ['execution_start', { prompt_id: 'p', timestamp: 1 }],
            ['execution_success', { prompt_id: 'p', timestamp: 2 }],
          ],
        },
      });
      expect(found.state).to.equal('completed');
      expect(toLookup(found)).to.deep.equal({
        state: 'completed',
        outputs: [{ node: '2', kind: 'images', filename: 'success_00001_.png', subfolder: '', type: 'output' }],
      });
    });

    it('reads a runtime error with node and exception', () => {
      const found = foundInHistory({
        outputs: {},
        status: {
          status_str: 'error',
          completed: false,
          messages: [
            ['execution_start', { prompt_id: 'p' }],
            [
              'execution_error',
              {
                prompt_id: 'p',
                node_id: '2',
                node_type: 'SaveImage',
                executed: ['1'],
                exception_message: '**** ERROR: Saving image outside the output folder is not allowed.\n',
                exception_type: 'Exception',
              },
            ],
          ],
        },
      });
      expect(found).to.deep.equal({
        state: 'failed',
        node: '2',
        nodeType: 'SaveImage',
        exceptionType: 'Exception',
        message: '**** ERROR: Saving image outside the output folder is not allowed.',
      });
    });

    it('tells an interrupt apart from an error although both say status_str "error"', () => {
      const found = foundInHistory({
        outputs: {},
        status: {
          status_str: 'error',
          completed: false,
          messages: [
            ['execution_start', { prompt_id: 'p' }],
            ['execution_interrupted', { prompt_id: 'p', node_id: '3', node_type: 'ImageScale', executed: ['1', '2'] }],
          ],
        },
      });
      expect(found).to.deep.equal({ state: 'interrupted', node: '3' });
    });

    it('treats an unfinished entry as running', () => {
      expect(foundInHistory({ outputs: {}, status: { status_str: null, completed: false, messages: [] } })).to.deep.equal({
        state: 'running',
      });
    });
  });

  describe('queue', () => {
    const queue = {
      queue_running: [[25, 'running-id', {}, { client_id: 'c' }, ['4']]],
      queue_pending: [
        [-28, 'front-id', {}, {}, ['2']],
        [27, 'pending-id', {}, {}, ['2']],
      ],
    };
    it('finds running, pending (unsorted) and absent prompts', () => {
      expect(queuePlace(queue, 'running-id')).to.equal('running');
      expect(queuePlace(queue, 'pending-id')).to.equal('pending');
      expect(queuePlace(queue, 'front-id')).to.equal('pending');
      expect(queuePlace(queue, 'other')).to.equal('absent');
      expect(queuePlace('garbage', 'other')).to.equal('absent');
    });
    it('reads every place in one pass, the same as queuePlace for each prompt', () => {
      const places = queuePlaces(queue);
      for (const id of ['running-id', 'pending-id', 'front-id', 'other']) expect(places.get(id) ?? 'absent', id).to.equal(queuePlace(queue, id));
      expect(places.size).to.equal(3);
      expect(queuePlaces('garbage').size).to.equal(0);
      expect(queuePlaces({ queue_running: 'nonsense', queue_pending: [['no id'], 7] }).size).to.equal(0);
    });
  });

  describe('jobs api', () => {
    it('maps job states', () => {
      expect(readJob({ id: 'x', status: 'pending' })).to.deep.equal({ state: 'queued' });
      expect(readJob({ id: 'x', status: 'in_progress' })).to.deep.equal({ state: 'running' });
      expect(readJob({ id: 'x', status: 'weird' })).to.deep.equal({ state: 'unknown' });
      const done = readJob({
        id: 'x',
        status: 'completed',
        outputs: { '2': { images: [{ filename: 'o.png', subfolder: '', type: 'output' }] } },
        execution_status: { status_str: 'success', completed: true, messages: [] },
      });
      expect(done.state).to.equal('completed');
      const interrupted = readJob({
        id: 'x',
        status: 'failed',
        execution_status: { status_str: 'error', completed: false, messages: [['execution_interrupted', { node_id: '3' }]] },
      });
      expect(interrupted).to.deep.equal({ state: 'interrupted', node: '3' });
      const failed = readJob({ id: 'x', status: 'failed', execution_error: { node_id: '7', exception_message: 'boom' } });
      expect(failed).to.include({ state: 'failed', node: '7', message: 'boom' });
      expect(readJob({ id: 'x', status: 'cancelled' })).to.deep.equal({ state: 'interrupted', node: null });
      expect(readJob({ id: 'x', status: 'completed' })).to.deep.equal({ state: 'completed', outputs: [] });
    });
  });

  describe('validation errors', () => {
    it('names node, class and input for a value over its max', () => {
      const body = {
        error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
        node_errors: {
          '1': {
            errors: [
              {
                type: 'value_bigger_than_max',
                message: 'Value 99999 bigger than max of 16384',
                details: 'width',
                extra_info: { input_name: 'width', received_value: 99999 },
              },
            ],
            dependent_outputs: ['2'],
            class_type: 'EmptyImage',
          },
        },
      };
      expect(describeRejection(body)).to.equal('node 1 (EmptyImage) input "width": Value 99999 bigger than max of 16384');
    });

    it('keeps details that say more than the input name', () => {
      const body = {
        node_errors: {
          '2': {
            errors: [
              {
                type: 'value_not_in_list',
                message: 'Value not in list',
                details: "upscale_method: 'bogus' not in ['nearest-exact', 'lanczos']",
                extra_info: { input_name: 'upscale_method' },
              },
            ],
            class_type: 'ImageScale',
          },
          '3': {
            errors: [
              { type: 'required_input_missing', message: 'Required input is missing', details: 'images', extra_info: { input_name: 'images' } },
            ],
            class_type: 'SaveImage',
          },
        },
      };
      expect(describeRejection(body)).to.equal(
        'node 2 (ImageScale) input "upscale_method": Value not in list: upscale_method: \'bogus\' not in [\'nearest-exact\', \'lanczos\']; ' +
          'node 3 (SaveImage) input "images": Required input is missing',
      );
    });

    it('falls back to the top-level error when no node is named', () => {
      const body = {
        error: {
          type: 'invalid_prompt',
          message: 'Cannot execute because node NoSuchNode does not exist.',
          details: "Node ID '#1'",
          extra_info: {},
        },
        node_errors: {},
      };
      expect(describeRejection(body)).to.equal("Cannot execute because node NoSuchNode does not exist. (Node ID '#1')");
      expect(describeRejection(undefined)).to.equal('ComfyUI rejected the graph');
    });
  });
});
