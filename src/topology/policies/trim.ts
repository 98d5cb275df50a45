import { isBridge } from './graph.js'
import type { LinkView, RoundView } from './view.js'

export interface TrimOptions {
  /** A link this young (ms) is never trimmed: its other end chose it for a reason the map may not show yet */
  gracePeriod: number
}

/**
 * (c) Above `maxPeers`: the one member link to close, or undefined. Never a
 * bridge (its other end would be cut off), never a link in its grace period.
 * Relayed links go first, then links to members that keep more than
 * `minPeers` without us (they will not need to replace the link), then the
 * best-linked.
 */
export function trimPolicy (view: RoundView, options: TrimOptions): LinkView | undefined {
  if (view.members.length <= view.maxPeers) {
    return undefined
  }
  const degreeOf = (m: LinkView): number => view.graph.get(m.key)?.size ?? 0
  return view.members
    .filter(m => view.now - (m.linkedAt ?? 0) >= options.gracePeriod && !isBridge(view.graph, view.self, m.key))
    .sort((a, b) =>
      Number(a.direct) - Number(b.direct) ||
      Number(degreeOf(b) > view.minPeers) - Number(degreeOf(a) > view.minPeers) ||
      degreeOf(b) - degreeOf(a)
    )[0]
}
