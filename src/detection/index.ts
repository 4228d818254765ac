export * from './phi.js';
export * from './phi-accrual.js';
export * from './presets.js';
export * from './heartbeat-monitor.js';
export * from './health-check.js';
