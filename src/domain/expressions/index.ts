/** Pipeline templates (`{{steps.plan.result.files}}`) and `when` conditions: parsing and evaluation. */
export * from './parse.js';
export * from './evaluate.js';
