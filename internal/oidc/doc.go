// Package oidc is Coffer's identity front door: an embedded OpenID Connect
// issuer with the endpoints the Azure clients use (v1 and v2 discovery and
// token endpoints per tenant, the /adfs alias, JWKS, the App Service and
// IMDS managed-identity endpoints, and the few ARM endpoints `az login`
// calls), and the Verifier that checks bearer tokens from it and from any
// configured external issuer (Entra ID, Keycloak, Dex).
//
// # Tokens
//
// Tokens are RS256 JWTs carrying Entra's claims: aud, iss, iat, nbf, exp,
// tid, oid, sub, appid (v1) or azp (v2), idtyp, ver, uti, upn and name for
// users, wids and roles for directory roles, and groups (with Entra's
// overage form above a limit). A private claim, xms_crid, binds a token to
// the credential it was issued for, so removing or resetting that
// credential revokes the token at once.
//
// # Verification is cheap after the first time
//
// A verified token is cached by the SHA-256 of its text until it expires,
// so its signature is checked once. Every request still checks, from the
// in-memory directory, that the principal is enabled and its credential
// still valid, and re-resolves groups when the directory changed.
//
// # Security
//
// Algorithms are pinned (RS256 for our own tokens; a configured list for
// external issuers), so "alg: none" and HMAC-with-the-public-key forgeries
// fail before any key is chosen. Failed authentications at the token
// endpoint are rate limited per client and per source address. Tokens,
// secrets and assertions never appear in logs or error messages.
package oidc
