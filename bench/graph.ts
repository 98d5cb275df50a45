/**
 * The benches' shared random graph: a ring (so it is connected) plus seeded
 * chords until the average degree is `degree`. The same seed gives the same
 * shape for the Membrane and the stock run of a bench.
 */
export function randomGraph (n: number, degree: number, seed = 7): Array<[number, number]> {
  let state = seed
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const pairs = new Set<string>()
  const add = (a: number, b: number): void => {
    if (a !== b) { pairs.add(a < b ? `${a}-${b}` : `${b}-${a}`) }
  }
  for (let i = 0; i < n; i++) { add(i, (i + 1) % n) }
  while (pairs.size < Math.floor(n * degree / 2)) {
    add(Math.floor(random() * n), Math.floor(random() * n))
  }
  return [...pairs].map(p => p.split('-').map(Number) as [number, number])
}
