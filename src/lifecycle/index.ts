export * from './lifecycle.js';
export * from './restart-policy.js';
