export * from './controller.js';
export * from './informer.js';
export * from './kube-http.js';
export * from './leader.js';
export type * from './log.js';
export * from './workqueue.js';
