import { interopMatrix } from './matrix.js'

interopMatrix('go')
