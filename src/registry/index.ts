export * from './registry.js';
export * from './errors.js';
export * from './duration.js';
export * from './kv.js';
export * from './embedded.js';
export * from './server.js';
export * from './http-client.js';
export * from './etcd.js';
