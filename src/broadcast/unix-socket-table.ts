// The table moved to src/io (the listener's stale-socket check reads it too); kept here for the watcher's imports.
export * from '../io/unix-socket-table.js';
