export * from './errors.js';
export * from './codec.js';
export * from './store.js';
export * from './stores/memory.js';
export * from './stores/file.js';
export * from './stores/redis.js';
export * from './checkpointer.js';
export * from './recovery-block.js';
