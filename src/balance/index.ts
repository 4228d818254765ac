export * from './balancer.js';
export * from './failover-client.js';
export * from './gateway.js';
export * from './admission.js';
