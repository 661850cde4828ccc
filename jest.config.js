/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.js',
  // Examples import the package by name, as users do.
  moduleNameMapper: { '^xdrd$': '<rootDir>/lib/index.ts' },
};
