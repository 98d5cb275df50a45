// The public API shared by the Node and browser entry points
export { DEFAULT_MAX_PEERS, gossipsubDefaults } from './membrane.js'
export type { Membrane, MembraneOptions, MembraneServices } from './membrane.js'
export * from './broadcast/index.js'
export * from './circuit/index.js'
