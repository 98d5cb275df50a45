import type { Candidate, RoundView } from './view.js'

export interface AddOptions {
  /** New links started per round when below `minPeers` */
  maxAddsPerRound: number
  /** Bridging links started by about this many members of a part per round */
  bridgesPerRound: number
  /** A number in [0, 1) (Math.random in production) */
  random(): number
}

export interface AddDecision {
  candidate: Candidate
  action: 'add' | 'bridge'
}

/**
 * Candidates best first: ones our part of the mesh cannot reach but that still
 * have links (a live part to bridge), then members short of links, then the
 * farthest (shortest-path gain), then the least linked; full members (at
 * `maxPeers`) and recently lost or trimmed ones last.
 */
export function rankCandidates (candidates: Candidate[], minPeers: number, maxPeers: number): Candidate[] {
  const rank = (c: Candidate): number[] => [
    c.cooling ? 1 : 0,
    c.degree >= maxPeers ? 1 : 0,
    // an unreachable node that still has links is a live part of the mesh; one without may be gone
    c.distance === Infinity ? (c.degree > 0 ? 0 : 1) : 2,
    // a member below minPeers gains from the link as much as we do
    c.degree < minPeers ? 0 : 1,
    -Math.min(c.distance, 1e6),
    c.degree,
    c.random
  ]
  return [...candidates].sort((a, b) => {
    const ra = rank(a)
    const rb = rank(b)
    for (let i = 0; i < ra.length; i++) {
      if (ra[i] !== rb[i]) { return ra[i] - rb[i] }
    }
    return 0
  })
}

/**
 * (b) Below `minPeers`: link to the best candidates, at most
 * `maxAddsPerRound` attempts in flight (the peers dialed gain a link too, and
 * the next round sees that in the map: no overshoot past `maxPeers`).
 * (b') Between the bounds: with probability `bridgesPerRound / part size`,
 * bridge to a live part of the mesh our part cannot reach, so a split heals
 * without every member dialing across at once.
 */
export function addPolicy (view: RoundView, options: AddOptions): AddDecision[] {
  const ranked = rankCandidates(view.candidates, view.minPeers, view.maxPeers)
  const degree = view.members.length
  if (degree < view.minPeers) {
    const room = Math.min(view.minPeers - degree, options.maxAddsPerRound) - view.pending
    return ranked.slice(0, Math.max(0, room)).map(candidate => ({
      candidate,
      action: candidate.distance === Infinity && degree > 0 ? 'bridge' : 'add'
    }))
  }
  if (degree < view.maxPeers && view.pending === 0) {
    const across = ranked.find(c => c.distance === Infinity && !c.cooling && c.degree > 0)
    if (across != null && options.random() < options.bridgesPerRound / Math.max(1, view.distances.size)) {
      return [{ candidate: across, action: 'bridge' }]
    }
  }
  return []
}
