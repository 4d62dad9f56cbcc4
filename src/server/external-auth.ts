// A database's external identity provider: its settings (a JWKS file or URL, the issuer and the
// audience its tokens must name), checked when set, and the public keys that verify its tokens.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { HttpError } from './http-error.js';

/** The signature algorithms accepted from an external identity provider. */
export type ExternalAlgorithm = 'RS256' | 'ES256';

/** The algorithms accepted when the settings name none. */
export const EXTERNAL_ALGORITHMS: readonly ExternalAlgorithm[] = ['RS256', 'ES256'];

/** What `setExternalAuth` takes. */
export interface ExternalAuthInput {
  /** A JWKS file path (resolved against the current directory) or an `https://` or `http://` URL. */
  jwks: string;
  /** The `iss` its tokens must carry. */
  issuer: string;
  /** The `aud` its tokens must carry (one of them, when `aud` is a list). */
  audience: string;
  /** Accepted algorithms (default RS256 and ES256). */
  algorithms?: readonly ExternalAlgorithm[];
}

/** A database's external identity provider, as stored. */
export interface ExternalAuth {
  /** An absolute JWKS file path, or an http(s) URL. */
  jwks: string;
  issuer: string;
  audience: string;
  algorithms: ExternalAlgorithm[];
  updatedAt: number;
}

/** Checks settings before they are stored: a file must hold a JWKS with a public key; a URL must be http(s). Throws HttpError 400. */
export function checkExternalAuth(input: ExternalAuthInput): Omit<ExternalAuth, 'updatedAt'> {
  const issuer = input.issuer?.trim() ?? '';
  const audience = input.audience?.trim() ?? '';
  if (!issuer) throw new HttpError(400, 'an external identity provider needs an issuer');
  if (!audience) throw new HttpError(400, 'an external identity provider needs an audience');
  const algorithms = [...new Set(input.algorithms ?? EXTERNAL_ALGORITHMS)];
  if (algorithms.length === 0) throw new HttpError(400, 'name at least one algorithm (RS256 or ES256)');
  for (const algorithm of algorithms) {
    if (!isExternalAlgorithm(algorithm)) throw new HttpError(400, `unsupported algorithm '${algorithm}' (RS256 or ES256)`);
  }
  return { jwks: checkJwksLocation(input.jwks ?? ''), issuer, audience, algorithms };
}

/** Whether a value names an algorithm accepted from an external identity provider. */
export function isExternalAlgorithm(value: string): value is ExternalAlgorithm {
  return (EXTERNAL_ALGORITHMS as readonly string[]).includes(value);
}

/** Whether a JWKS location is a URL (else a file path). */
export function isJwksUrl(jwks: string): boolean {
  return /^https?:\/\//i.test(jwks);
}

/**
 * The key resolvers of external identity providers, kept per database. A URL's keys are fetched on
 * first use and cached by jose (refetched for an unknown `kid`, at most every 30 s); a file is
 * read again whenever its modification time or size changes, so a rotated file takes effect at
 * once.
 */
export class ExternalKeys {
  private readonly resolvers = new Map<string, { source: string; version: string; keys: JWTVerifyGetKey }>();

  /** The resolver for a database's settings. Throws HttpError 503 when a JWKS file cannot be read. */
  keysFor(database: string, auth: Pick<ExternalAuth, 'jwks'>): JWTVerifyGetKey {
    const cached = this.resolvers.get(database);
    if (isJwksUrl(auth.jwks)) {
      if (cached?.source === auth.jwks) return cached.keys;
      const keys = guarded(createRemoteJWKSet(new URL(auth.jwks)));
      this.resolvers.set(database, { source: auth.jwks, version: '', keys });
      return keys;
    }
    let version: string;
    let keys: JWTVerifyGetKey;
    try {
      const stat = statSync(auth.jwks);
      version = `${stat.mtimeMs}/${stat.size}`;
      if (cached?.source === auth.jwks && cached.version === version) return cached.keys;
      keys = guarded(createLocalJWKSet(readJwksFile(auth.jwks)));
    } catch {
      this.resolvers.delete(database);
      throw new HttpError(503, 'the identity provider keys are unavailable');
    }
    this.resolvers.set(database, { source: auth.jwks, version, keys });
    return keys;
  }

  /** Forgets a database's resolver (its settings changed or were removed). */
  forget(database: string): void {
    this.resolvers.delete(database);
  }
}

/** A key resolver whose failures other than "no key matches" become HttpError 503: the keys, not the token, are at fault. */
function guarded(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new HttpError(503, 'the identity provider keys are unavailable');
    }
  };
}

function checkJwksLocation(jwks: string): string {
  if (!jwks) throw new HttpError(400, 'an external identity provider needs a JWKS file or URL');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(jwks)) {
    let url: URL;
    try {
      url = new URL(jwks);
    } catch {
      throw new HttpError(400, `invalid JWKS URL '${jwks}'`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new HttpError(400, `a JWKS URL must be https:// or http://, not ${url.protocol}`);
    return url.href;
  }
  const file = resolve(jwks);
  let set: JSONWebKeySet;
  try {
    set = readJwksFile(file);
    createLocalJWKSet(set); // checks the shape of every key
  } catch (error) {
    throw new HttpError(400, `the JWKS file ${file} is unusable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (set.keys.some((key) => 'd' in key || key.kty === 'oct')) throw new HttpError(400, `the JWKS file ${file} holds a private or secret key: give the public keys only`);
  if (!set.keys.some((key) => key.kty === 'RSA' || key.kty === 'EC')) throw new HttpError(400, `the JWKS file ${file} holds no RSA or EC key`);
  return file;
}

/** Reads a JWKS file: JSON `{"keys": [...]}` with at least one key. */
function readJwksFile(file: string): JSONWebKeySet {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const keys = typeof parsed === 'object' && parsed !== null ? (parsed as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))) {
    throw new Error('expected {"keys": [...]} with at least one key');
  }
  return parsed as JSONWebKeySet;
}
