// What the transfer bench and its receiver process (transfer-peer.ts) agree on
export const SINK = '/bench/transfer-sink/1.0.0'
export const MEMORY_START = 'bench/memory-start'
export const MEMORY_STOP = 'bench/memory-stop'
