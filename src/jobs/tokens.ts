import { optionError } from '../errors'

/**
 * Token storage stays the host's business: a job carries a reference
 * (`tokenRef`, e.g. a user id or a vault path), never the token, and the
 * worker asks the host's provider for the token right before the sync.
 */
export type TokenProvider = (ref: string, job: { id: string, scope: Record<string, string | number> }) => Promise<string> | string

/** Default provider: BRX_TOKEN_<REF> (the reference upper-cased, non-alphanumerics as '_'). */
export const envTokenProvider: TokenProvider = (ref) => {
  const name = `BRX_TOKEN_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`
  const token = process.env[name]
  if (token === undefined || token === '') {
    throw optionError('source.tokenRef', `"${ref}" has no token: set ${name} or give the worker a tokenProvider.`)
  }
  return token
}
