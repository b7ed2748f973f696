export { startFakeNeon, type FakeNeon, type NeonReceived } from './server.js';
export { acmeWorld, ACME, type NeonWorld, type BranchRec } from './world.js';
