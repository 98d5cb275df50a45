/** Nothing arrived on a member link for the silence deadline: the neighbour is lost */
export class LinkSilentError extends Error {
  static name = 'LinkSilentError'
  name = 'LinkSilentError'
}

/** The remote end sent something that is not a beat on the keep-alive stream */
export class KeepAliveProtocolError extends Error {
  static name = 'KeepAliveProtocolError'
  name = 'KeepAliveProtocolError'
}
