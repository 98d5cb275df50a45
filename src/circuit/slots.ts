import { CircuitResponse } from './pb/circuit.js'
import { Refusal } from './wire.js'
import type { CircuitMode, CircuitStats } from './index.js'
import type { PeerId } from '@libp2p/interface'

export interface CircuitSlotsInit {
  /** Circuits one neighbour may have through this node at once, in each direction */
  maxCircuitsPerPeer: number
  /** Circuits this node relays or terminates at once */
  maxCircuits: number
  /** Of those, relay (fallback) circuits */
  maxRelayCircuits: number
}

/**
 * The circuits a node carries, as a hop or a target: every circuit takes a
 * slot before it is answered and gives it back exactly once when it ends.
 */
export class CircuitSlots {
  private readonly init: CircuitSlotsInit
  private readonly inbound = new Map<string, number>()
  private readonly outbound = new Map<string, number>()
  private circuits = 0
  private relayCircuits = 0
  private forwarded = 0

  constructor (init: CircuitSlotsInit) {
    this.init = init
  }

  /**
   * Take a slot for a circuit from `from` (to `to`, when this node is a hop);
   * returns the idempotent release function, or throws a LIMIT_EXCEEDED Refusal
   */
  reserve (from: PeerId, to: PeerId | undefined, mode: CircuitMode): () => void {
    const { maxCircuits, maxCircuitsPerPeer, maxRelayCircuits } = this.init
    const inKey = from.toString()
    const outKey = to?.toString()
    if (this.circuits >= maxCircuits) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node carries its limit of ${maxCircuits} circuits`)
    }
    if ((this.inbound.get(inKey) ?? 0) >= maxCircuitsPerPeer) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `${from} already has ${maxCircuitsPerPeer} circuits through this node`)
    }
    if (outKey != null && (this.outbound.get(outKey) ?? 0) >= maxCircuitsPerPeer) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node already forwards ${maxCircuitsPerPeer} circuits to ${to}`)
    }
    if (mode === 'relay' && this.relayCircuits >= maxRelayCircuits) {
      throw new Refusal(CircuitResponse.Status.LIMIT_EXCEEDED, `this node carries its limit of ${maxRelayCircuits} relay circuits`)
    }
    this.circuits++
    increment(this.inbound, inKey)
    if (outKey != null) {
      increment(this.outbound, outKey)
    }
    if (mode === 'relay') {
      this.relayCircuits++
    }
    let released = false
    return () => {
      if (released) {
        return
      }
      released = true
      this.circuits--
      decrement(this.inbound, inKey)
      if (outKey != null) {
        decrement(this.outbound, outKey)
      }
      if (mode === 'relay') {
        this.relayCircuits--
      }
    }
  }

  /** Count a circuit this node relays as a hop */
  countForwarded (): void {
    this.forwarded++
  }

  stats (): CircuitStats {
    return { circuits: this.circuits, relayCircuits: this.relayCircuits, forwarded: this.forwarded }
  }
}

function increment (counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

function decrement (counts: Map<string, number>, key: string): void {
  const value = (counts.get(key) ?? 0) - 1
  if (value <= 0) {
    counts.delete(key)
  } else {
    counts.set(key, value)
  }
}
