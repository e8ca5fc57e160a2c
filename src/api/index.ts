export * from './limits.js';
export * from './names.js';
export * from './owned-config.js';
export * from './quantity.js';
export * from './v1alpha1.js';
export * from './validate.js';
