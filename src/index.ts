export * from './core/index.js';
export * from './policy/index.js';
export * from './recovery/index.js';
export * from './hashing/index.js';
export * from './detection/index.js';
export * from './registry/index.js';
export * from './election/index.js';
export * from './balance/index.js';
