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
 * Candidates best first (a deterministic order; {@link addPolicy} draws
 * among the best few of it, see {@link pickCandidates}): ones our part of the mesh cannot reach but that still
 * have links (a live part to bridge), then members short of links, then the
 * farthest (shortest-path gain), then the least linked; full members (at
 * `maxPeers`), members whose records are stale and recently lost or trimmed
 * ones last.
 */
export function rankCandidates (candidates: Candidate[], minPeers: number, maxPeers: number): Candidate[] {
  const rank = (c: Candidate): number[] => [
    c.cooling ? 1 : 0,
    // after a kill the dead look short of links (their neighbours' records dropped them) and far: not a first choice
    c.stale ? 1 : 0,
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
 * The hard order of {@link rankCandidates} without its soft keys: cooling
 * last, stale records next to last, full after the rest, then live
 * unreachable parts, unreachable nodes without links, reachable members
 */
function tier (c: Candidate, maxPeers: number): number {
  const reach = c.distance === Infinity ? (c.degree > 0 ? 0 : 1) : 2
  return (c.cooling ? 12 : 0) + (c.stale ? 6 : 0) + (c.degree >= maxPeers ? 3 : 0) + reach
}

/** How many of the best-ranked candidates of a tier count as near-equal: each draw is made among them */
export const NEAR_EQUAL = 4

/**
 * How strongly a near-equal candidate is preferred: its room below
 * `maxPeers` (at least 1), so members drawing at the same moment from the
 * same view send each about the share of links it can still take
 */
export function candidateWeight (c: Candidate, maxPeers: number): number {
  return Math.max(1, maxPeers - c.degree)
}

/**
 * Up to `count` distinct candidates. Each is drawn among the
 * {@link NEAR_EQUAL} best left in {@link rankCandidates}' order that share
 * the best one's tier (a full or cooling candidate never stands beside one
 * that is neither), with probability proportional to
 * {@link candidateWeight}. Not simply the best: members that lost links at
 * the same moment see the same map, and each taking the single best made
 * them all link to the same member at once (it went to degree 12 with
 * `maxPeers` 6 after a kill of 15 of 50). The ranking still decides which
 * few are near-equal (short of links, farthest first): a draw by room among
 * all candidates spread the links further but healed slower in the bench.
 */
export function pickCandidates (candidates: Candidate[], count: number, minPeers: number, maxPeers: number, random: () => number): Candidate[] {
  const left = rankCandidates(candidates, minPeers, maxPeers)
  const out: Candidate[] = []
  while (out.length < count && left.length > 0) {
    const best = tier(left[0], maxPeers)
    let near = 1
    while (near < Math.min(NEAR_EQUAL, left.length) && tier(left[near], maxPeers) === best) {
      near++
    }
    const weights = left.slice(0, near).map(c => candidateWeight(c, maxPeers))
    let r = random() * weights.reduce((sum, w) => sum + w, 0)
    let i = 0
    while (i < near - 1 && r >= weights[i]) {
      r -= weights[i]
      i++
    }
    out.push(left.splice(i, 1)[0])
  }
  return out
}

/**
 * (b) Below `minPeers`: link to candidates drawn by {@link pickCandidates},
 * at most `maxAddsPerRound` attempts in flight (the peers dialed gain a link
 * too, and the next round sees that in the map).
 * (b') Between the bounds: with probability `bridgesPerRound / part size`,
 * bridge to a live part of the mesh our part cannot reach, so a split heals
 * without every member dialing across at once.
 */
export function addPolicy (view: RoundView, options: AddOptions): AddDecision[] {
  const degree = view.members.length
  if (degree < view.minPeers) {
    const room = Math.min(view.minPeers - degree, options.maxAddsPerRound) - view.pending
    return pickCandidates(view.candidates, Math.max(0, room), view.minPeers, view.maxPeers, options.random).map(candidate => ({
      candidate,
      action: candidate.distance === Infinity && degree > 0 ? 'bridge' : 'add'
    }))
  }
  if (degree < view.maxPeers && view.pending === 0) {
    const live = view.candidates.filter(c => c.distance === Infinity && !c.cooling && c.degree > 0)
    if (live.length > 0 && options.random() < options.bridgesPerRound / Math.max(1, view.distances.size)) {
      return pickCandidates(live, 1, view.minPeers, view.maxPeers, options.random).map(candidate => ({ candidate, action: 'bridge' }))
    }
  }
  return []
}
