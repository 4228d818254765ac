export * from './clock.js';
export * from './errors.js';
export * from './events.js';
export * from './options.js';
export * from './random.js';
export * from './abort.js';
export * from './http.js';
