/** Fake Railway backboard for tests: see server.ts (transport, auth, modes) and world.ts (the data). */
export {
  startFakeRailway, loadRailwaySubsetSchema, authFromHeaders, RAILWAY_SUBSET_SCHEMA_PATH, GRAPHQL_PATHS,
  type FakeRailway, type FakeMode, type FieldHold, type ReceivedOperation, type StartFakeRailwayOptions, type TokenKindSeen,
} from './server.js';
export { pocketOsWorld, cloneWorld, nextTimestamp, newId, POCKETOS } from './world.js';
export type * from './world.js';
export { environmentConfig, configEtag, applyPatch, removeVolume, deleteService } from './model.js';
export type { Auth, AuthKind } from './resolvers.js';
