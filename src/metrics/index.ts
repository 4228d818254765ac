export * from './formulas.js';
export * from './availability.js';
export * from './history.js';
