// The browser entry point (package `exports` condition "browser"); see index.ts for the documentation
import { createMembraneWithPreset } from './membrane.js'
import { preset } from './presets/browser.js'
import type { Membrane, MembraneOptions } from './membrane.js'
import type { ServiceMap } from '@libp2p/interface'

export * from './api.js'
export { installBrowserWebRTCGuards } from './presets/browser.js'

/** Create and start a Membrane node (browser preset: WebSockets, WebRTC, circuit relay) */
export async function createMembrane <T extends ServiceMap = ServiceMap> (options: MembraneOptions<T> = {}): Promise<Membrane<T>> {
  return createMembraneWithPreset(preset, options)
}
