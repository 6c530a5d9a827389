import { createHash } from 'node:crypto'

/** The rate limiter's key for a token: a hash, so neither Redis nor a log ever holds the token. */
export function tokenKey (token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24)
}

/** Removes the token from text that came from elsewhere (an error body, a library's message). */
export function scrub (text: string, token: string): string {
  return token.length > 0 ? text.split(token).join('***') : text
}
