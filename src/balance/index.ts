export * from './balancer.js';
export * from './failover-client.js';
export * from './gateway.js';
export * from './admission.js';
/** Lean prom-client counters and a histogram for hot paths (the gateway's; the demo nodes'). */
export { FastCounter, FastHistogram, type HistogramChild } from './fast-metrics.js';
