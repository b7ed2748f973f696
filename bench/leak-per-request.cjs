// A deliberate leak, to show the soak's memory check catches one (docs/fuzz-and-soak.md):
//   SOAK_SCOPEGATE_NODE_OPTIONS="--require $PWD/bench/leak-per-request.cjs" node bench/soak.mjs
// Preloaded into scopegate only, it keeps LEAK_BYTES (default 4096) of fresh string per HTTP
// request any of its servers sees, forever.
const http = require('node:http');
const bytes = Number(process.env.LEAK_BYTES || 4096);
const kept = [];
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  // a flat string of its own (Buffer → latin1): padEnd or repeat would share one rope between all
  if (event === 'request') kept.push(Buffer.alloc(bytes, kept.length % 251).toString('latin1'));
  return emit.call(this, event, ...args);
};
