import { interopMatrix } from './matrix.js'

interopMatrix('js')
