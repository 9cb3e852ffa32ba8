// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const driverPattern = {
  group: ['ioredis', 'pg', 'better-sqlite3', '@batchflight/*', 'fastify', '@opentelemetry/*'],
  message: 'The core package has zero runtime dependencies and imports no driver or adapter.',
};

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '**/*.js', '**/*.cjs', '**/*.mjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: './tsconfig.typecheck.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // Class fields named with # are used for private state; empty functions are legitimate no-op defaults.
      '@typescript-eslint/no-empty-function': 'off',
      // `void promise` marks a deliberately detached promise (errors handled inside).
      'no-void': 'off',
    },
  },
  {
    // The boundary: the core package imports no driver and no adapter (tests may use the test kit).
    files: ['packages/batchflight/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [driverPattern] }],
    },
  },
  {
    // core/ imports no capability either.
    files: ['packages/batchflight/src/core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            driverPattern,
            { group: ['../*', '!../core', '!../core/*'], message: 'core/ imports no capability.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: {
      // Tests and benches assert on values whose types are known from the setup.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
