import { interopMatrix } from './matrix.js'

interopMatrix('rust')
