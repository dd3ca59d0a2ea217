import { markdown, outsideFences } from './escape.js';

/**
 * A plugin's README.md as a `## <name>` section of the plugins page: its own title is dropped (the
 * section names the plugin), its other headings nest one level deeper (not `#` comments in code
 * fences), and its prose is escaped for Vue.
 */
export function readmeSection(name: string, readme: string): string {
  const lines = readme.replace(/\r\n?/g, '\n').trim().split('\n');
  if (lines[0]?.startsWith('# ')) lines.shift();
  const nested = outsideFences(lines, (line) => (/^#{1,5} /.test(line) ? `#${line}` : line));
  return `## ${name}\n\n${markdown(nested.join('\n').trim())}\n`;
}
