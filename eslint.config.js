// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of `src/`, lowest first. A folder imports only folders in lower layers, so the
 * request's path reads top-down (cli → serve → routes → services → primitives) and no cycle can form.
 */
const LAYERS = [
  ['internal'],
  ['errors', 'config', 'embeds'],
  ['logging', 'http'],
  ['sgt', 'upstream', 'protection', 'chat-output'],
  ['stream', 'privacy', 'prompt', 'client', 'telemetry'],
  ['proxy', 'gateway', 'reference-server'],
  ['serve'],
  ['cli'],
];

/** One config block per folder: importing a folder at the same layer or above is an error. */
function layeringRules() {
  return LAYERS.flatMap((layer, level) =>
    layer.map((folder) => {
      const forbidden = LAYERS.slice(level)
        .flat()
        .filter((other) => other !== folder);
      return {
        files: [`src/${folder}/**/*.ts`],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: forbidden.map((other) => ({
                group: [`../${other}/*`, `../../${other}/*`, `../../../${other}/*`],
                message: `src/${folder} is below src/${other} in the layering (eslint.config.js): move the shared part down instead.`,
              })),
            },
          ],
        },
      };
    }),
  );
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Configuration is parsed once (src/config) from the environment the CLI hands it.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/main.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read configuration from the parsed Env (src/config), passed down.',
        },
      ],
    },
  },
  ...layeringRules(),
);
