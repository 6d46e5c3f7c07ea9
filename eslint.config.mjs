// ESLint with typescript-eslint's type-checked rules (`npm run lint`; CI runs it before the tests).
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      '.infra/**',
      '.e2e/**',
      'tools/node/**',
      'bench/results/**',
      'bench/tmp/**',
      '.venv-model/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests (and the test fixtures they share) read JSON answers and mock Promise-returning interfaces; expect() checks the shapes, and
    // `expect(mock.method)` is jest's idiom, not an unbound call. Floating promises and explicit
    // `any` stay errors here too.
    files: ['**/*.spec.ts', 'test/**/*.ts', 'libs/testing/src/fixtures/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The gateway's page: plain browser scripts, loaded by <script> tags (charts.js defines LineChart for app.js).
    files: ['apps/gateway/public/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
    rules: { '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^LineChart$' }] },
  },
  {
    // Plain JavaScript (this file, jest's test environment) is outside the TypeScript project.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
    // jest loads its test environment with require().
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
