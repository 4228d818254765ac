export * from './fault-proxy.js';
export * from './toxiproxy-server.js';
export * from './schedule.js';
export * from './process-chaos.js';
export * from './load-generator.js';
export * from './reaper.js';
export * from './netns.js';
export * from './network-chaos.js';
