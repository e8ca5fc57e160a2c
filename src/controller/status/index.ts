// The TikvCluster status as pure rules: members and stores, conditions, phase, messages,
// change detection and the transitions worth an Event. The reconcile's status step writes
// what these derive; `tikv-operator status` reads with the same words.
export * from './assemble.js';
export * from './conditions.js';
export * from './equal.js';
export * from './events.js';
export * from './members.js';
export * from './messages.js';
export * from './phase.js';
export * from './statefulset.js';
export * from './time.js';
