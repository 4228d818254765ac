export * from './core/index.js';
export * from './policy/index.js';
export * from './recovery/index.js';
