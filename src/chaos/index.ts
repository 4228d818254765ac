export * from './fault-proxy.js';
export * from './toxiproxy-server.js';
