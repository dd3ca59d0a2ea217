import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markdown } from '../docs/gen/escape.js';
import { readmeSection } from '../docs/gen/plugin-readme.js';

const PLUGINS = fileURLToPath(new URL('../plugins/', import.meta.url));

describe('docs generator: plugin READMEs on the plugins page', () => {
  it('escapes prose for Vue but leaves inline code and fenced blocks as written', () => {
    const text = ['Files go to <dataDir>/db and {{ x }} stays text; `<dataDir>/db` is code.', '```yaml', 'key: "<secret>" # {{ not prose }}', '```', 'after <b>'].join('\n');
    expect(markdown(text).split('\n')).to.deep.equal([
      'Files go to &lt;dataDir>/db and &#123;&#123; x }} stays text; `<dataDir>/db` is code.',
      '```yaml',
      'key: "<secret>" # {{ not prose }}',
      '```',
      'after &lt;b>',
    ]);
  });

  it('names the section after the plugin, drops the README title and nests its headings, not comments in code', () => {
    const readme = ['# auth — API keys', '', 'Intro.', '', '## Sending the key', '```sh', '# a shell comment', '```', '### Deeper'].join('\n');
    expect(readmeSection('auth', readme)).to.equal(
      ['## auth', '', 'Intro.', '', '### Sending the key', '```sh', '# a shell comment', '```', '#### Deeper', ''].join('\n'),
    );
  });

  it('keeps a README without a title whole', () => {
    expect(readmeSection('util', 'Just a paragraph.\n')).to.equal('## util\n\nJust a paragraph.\n');
  });

  it('every plugin folder has a README.md', async () => {
    const folders = (await readdir(PLUGINS, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    expect(folders.length).to.be.greaterThan(0);
    expect(folders.filter((name) => !existsSync(`${PLUGINS}${name}/README.md`))).to.deep.equal([]);
  });
});
