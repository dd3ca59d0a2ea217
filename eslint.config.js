// Type-aware lint: the rules that catch a forgotten `await next()` or a dropped promise matter most here.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'docs/.vitepress/cache/', 'docs/.vitepress/dist/', '.tmp/', 'client/dist/', 'client/.build-test-*/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // The kernel speaks no domain words: it imports nothing from contracts/ or plugins/.
    files: ['core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)(contracts|plugins)/', message: 'core/ imports nothing from contracts/ or plugins/.' }] },
      ],
    },
  },
  {
    // Config assembly (files, environment, flags, choices) knows plugins only by their manifests, read through the
    // kernel's loader: it imports core/ and lib/, nothing from contracts/ or plugins/.
    files: ['cli/config/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)(contracts|plugins)/', message: 'cli/config/ imports nothing from contracts/ or plugins/.' }] },
      ],
    },
  },
  {
    // lib/ holds small helpers any plugin may use (outbound requests, parameters): no domain, no plugin.
    files: ['lib/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)(contracts|plugins)/', message: 'lib/ imports nothing from contracts/ or plugins/.' }] },
      ],
    },
  },
  {
    // Plugins meet through services, hooks and the bus: another plugin's folder is reached only for
    // the types of its api.ts.
    files: ['plugins/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./(?!\\.\\./)|plugins/[^/]+/(?!api\\.js$)', message: "Import another plugin's api.ts types only; talk to it through its service." },
            { regex: 'plugins/[^/]+/api\\.js$', allowTypeImports: true, message: "Only `import type` from another plugin's api.ts." },
          ],
        },
      ],
    },
  },
);
