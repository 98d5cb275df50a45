export type LogFormat = 'text' | 'json'

export interface CliLogger {
  info(event: string, text: string, fields?: Record<string, unknown>): void
  error(event: string, text: string, fields?: Record<string, unknown>): void
}

/**
 * Operator-facing log lines: plain text for people, one JSON object per line
 * (`{"time","level","event",...}`) for log shippers.
 */
export function cliLogger (format: LogFormat): CliLogger {
  const write = (level: 'info' | 'error', event: string, text: string, fields: Record<string, unknown>): void => {
    const out = level === 'error' ? process.stderr : process.stdout
    if (format === 'json') {
      out.write(JSON.stringify({ time: new Date().toISOString(), level, event, msg: text, ...fields }) + '\n')
    } else {
      out.write(text + '\n')
    }
  }
  return {
    info: (event, text, fields = {}) => { write('info', event, text, fields) },
    error: (event, text, fields = {}) => { write('error', event, text, fields) }
  }
}
