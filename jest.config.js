/** Jest in ESM mode (NestJS 12 is ESM-only). @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    // The sample imports the package by name; under test it runs against the library's source.
    '^nestjs-entra-pg$': '<rootDir>/lib/index.ts',
    '^nestjs-entra-pg/aws$': '<rootDir>/lib/aws/index.ts',
    '^nestjs-entra-pg/testing$': '<rootDir>/lib/testing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    // Types are checked by `npm run typecheck`; here only transpile.
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  // test/consumers/* are apps with their own test runners, driven by test/package/consumers.spec.ts.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/consumers/'],
  modulePathIgnorePatterns: ['<rootDir>/sample/dist', '<rootDir>/dist', '<rootDir>/test/consumers'],
  testTimeout: 60000,
  maxWorkers: 2,
};
