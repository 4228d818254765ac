export * from './types.js';
export { ROOT_CONTEXT } from './context.js';
export * from './backoff.js';
export * from './retry.js';
export * from './timeout.js';
export * from './breakers.js';
export * from './circuit-breaker.js';
export * from './bulkhead.js';
export * from './fallback.js';
export * from './hedge.js';
export * from './adaptive-limit.js';
export * from './load-shedder.js';
export * from './rate-limit.js';
export * from './wrap.js';
/** Deadlines for many calls of one timeout on one timer (used by timeout() and the failover client). */
export { DeadlineWheel, DeadlineSlot, type WheelMember } from './deadline-wheel.js';
/** How many retries and hedges may go out (the failover client's and the load generator's budget). */
export { RetryBudget } from './retry-budget.js';
/** What the policies did, exported to prom-client or OpenTelemetry (read from their stats when collected). */
export { policyMetrics, PolicyMetrics, POLICY_METRICS, type PolicyMetricsOptions, type MeteredPolicy, type OtelMeter, type OtelObservable } from './metrics.js';
