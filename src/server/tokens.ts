// User tokens (JWT): HS256 tokens this server issues with its own secret, and RS256/ES256 tokens of
// an external identity provider configured per database. A refused token is a 401 with a short
// reason that tells nothing about keys or secrets.

import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { HttpError } from './http-error.js';
import type { ServerData } from './server-data.js';

/** A verified token's user. */
export interface TokenUser {
  userId: string;
  claims: Readonly<Record<string, unknown>>;
}

/** What `createToken` takes. */
export interface TokenOptions {
  /** Lifetime in seconds, a positive integer. */
  ttlSeconds: number;
  /** Extra claims for the database's policies to read (not the reserved ones: iss, aud, sub, exp, iat, nbf, jti). */
  claims?: Readonly<Record<string, unknown>>;
}

/** The `iss` of tokens this server issues. */
export const TOKEN_ISSUER = 'sqlite-sync';

/** Seconds of clock difference accepted on `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Claims the server sets itself; `createToken` refuses them as extra claims. */
export const RESERVED_CLAIMS: readonly string[] = ['iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'jti'];

/** The `aud` of tokens this server issues for a database. */
export function tokenAudience(database: string): string {
  return `${TOKEN_ISSUER}:${database}`;
}

/**
 * Verifies a token for a database: HS256 with the server's secret, RS256/ES256 with the keys of
 * the database's external identity provider. Throws HttpError 401 (503 when the identity
 * provider's keys cannot be fetched or read).
 */
export async function verifyToken(data: ServerData, database: string, token: string): Promise<TokenUser> {
  if (!(await data.hasDatabase(database))) throw refused('invalid token');
  let algorithm: unknown;
  try {
    algorithm = decodeProtectedHeader(token).alg;
  } catch {
    throw refused('invalid token');
  }
  const common: JWTVerifyOptions = {
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    currentDate: new Date(data.currentTime()),
    requiredClaims: ['exp', 'sub'],
  };
  let payload: JWTPayload;
  if (algorithm === 'HS256') {
    const options = { ...common, issuer: TOKEN_ISSUER, audience: tokenAudience(database), algorithms: ['HS256'] };
    payload = await verifyWith(token, await data.tokenSecret(), options, 'token is for another database');
  } else if (algorithm === 'RS256' || algorithm === 'ES256') {
    const external = await data.externalKeys(database);
    if (!external) throw refused('invalid token');
    const options = { ...common, issuer: external.auth.issuer, audience: external.auth.audience, algorithms: external.auth.algorithms };
    payload = await verifyWith(token, external.keys, options, 'wrong audience');
  } else {
    throw refused('unsupported token algorithm');
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') throw refused('token has no subject');
  return { userId: payload.sub, claims: payload };
}

/** Signs an HS256 token for a user of a database: iss, aud, sub, iat, nbf (= iat), exp, jti and the extra claims. Throws HttpError 400 on bad options. */
export async function signToken(
  secret: Uint8Array,
  database: string,
  user: string,
  options: TokenOptions & { now: number; random?: (size: number) => Uint8Array },
): Promise<string> {
  if (typeof user !== 'string' || user === '') throw new HttpError(400, 'a token needs a user');
  if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds <= 0) throw new HttpError(400, 'the token lifetime must be a positive number of seconds');
  const claims = options.claims ?? {};
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new HttpError(400, 'extra claims must be an object');
  const reserved = Object.keys(claims).filter((name) => RESERVED_CLAIMS.includes(name));
  if (reserved.length > 0) throw new HttpError(400, `reserved claim${reserved.length > 1 ? 's' : ''} ${reserved.join(', ')} cannot be set`);
  const issuedAt = Math.floor(options.now / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(tokenAudience(database))
    .setSubject(user)
    .setIssuedAt(issuedAt)
    .setNotBefore(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .setJti(Buffer.from((options.random ?? randomBytes)(16)).toString('base64url'))
    .sign(secret);
}

/** jwtVerify, trying each key when several of a key set match, with jose's errors mapped to a short reason. */
async function verifyWith(token: string, key: Uint8Array | JWTVerifyGetKey, options: JWTVerifyOptions, wrongAudience: string): Promise<JWTPayload> {
  try {
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      for await (const candidate of error) {
        try {
          return (await jwtVerify(token, candidate, options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  } catch (error) {
    throw refusalOf(error, wrongAudience);
  }
}

/** The HttpError for a failed verification. */
function refusalOf(error: unknown, wrongAudience: string): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof errors.JWTExpired) return refused('token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return refused('token not yet valid');
    if (error.claim === 'aud') return refused(wrongAudience);
    if (error.claim === 'iss') return refused('wrong issuer');
    if (error.claim === 'sub') return refused('token has no subject');
    if (error.claim === 'exp') return refused('token has no expiry');
    return refused('invalid token');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return refused('invalid token signature');
  if (error instanceof errors.JWKSNoMatchingKey) return refused('unknown signing key');
  if (error instanceof errors.JOSEAlgNotAllowed) return refused('unsupported token algorithm');
  return refused('invalid token');
}

function refused(reason: string): HttpError {
  return new HttpError(401, reason);
}
