// Vue compiles markdown pages: a bare `<alias>` or `{{` in prose would be read as template syntax.
export const prose = (s: string | undefined): string => (s ?? '').replace(/</g, '&lt;').replace(/\{\{/g, '&#123;&#123;');
export const cell = (s: string | undefined): string => prose(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
