export * from './formulas.js';
export * from './availability.js';
export * from './history.js';
export * from './report/terminal.js';
export * from './report/html.js';
export * from './report/prometheus.js';
export * from './slo-rules.js';
export * from './slo-check.js';
