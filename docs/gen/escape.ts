// Vue compiles markdown pages: a bare `<alias>` or `{{` in prose would be read as template syntax.
export const prose = (s: string | undefined): string => (s ?? '').replace(/</g, '&lt;').replace(/\{\{/g, '&#123;&#123;');
export const cell = (s: string | undefined): string => prose(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

const FENCE = /^\s*(`{3,}|~{3,})/;

/** `fn` applied to every line outside fenced code blocks; the fences and what they hold stay as written. */
export function outsideFences(lines: readonly string[], fn: (line: string) => string): string[] {
  let fence: string | undefined;
  return lines.map((line) => {
    const marker = FENCE.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return line;
    }
    if (marker !== undefined) {
      fence = marker;
      return line;
    }
    return fn(line);
  });
}

/**
 * A whole markdown text (a plugin's README) made safe for Vue: `prose` outside code, while fenced blocks
 * and inline code stay as written (VitePress renders their `<` literally and wraps fenced blocks in v-pre).
 */
export const markdown = (text: string): string =>
  outsideFences(text.split('\n'), (line) =>
    line
      .split(/(`[^`]*`)/)
      // Odd pieces of the split are inline code spans.
      .map((piece, i) => (i % 2 === 1 ? piece : prose(piece)))
      .join(''),
  ).join('\n');
