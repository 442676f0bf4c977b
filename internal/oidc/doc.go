// Package oidc is Coffer's identity front door: an embedded OpenID Connect
// issuer with the endpoints the Azure clients use, and the Verifier that
// checks bearer tokens from it and from configured external issuers
// (Entra ID, Keycloak, Dex).
//
// # Endpoints
//
// The Issuer is an http.Handler mounted at the root. It serves, per tenant
// (by id or name; "adfs", "common" and "organizations" name the default
// tenant): v2 and v1 discovery documents, the v2 and v1 token endpoints
// (client_credentials with a client secret in the form or HTTP Basic, or a
// certificate-signed client assertion; password for users), and JWKS. It
// also serves the App Service (/msi/token) and IMDS
// (/metadata/identity/oauth2/token) managed-identity endpoints, the few
// Resource Manager endpoints `az login` and `az cloud register` read
// (/subscriptions, /tenants, /metadata/endpoints), MSAL's instance
// discovery, and the getMemberObjects endpoint a group overage points to.
// Every URL it returns is built from the host the client used.
//
// # Tokens
//
// Tokens are RS256 JWTs carrying Entra's claims: aud (the resource, without
// "/.default" or a trailing slash), iss (https://host/<tenant-id>/v2.0, or
// https://host/<tenant-id>/ for v1 and ADFS paths), iat, nbf, exp, tid,
// oid, sub, appid (v1) or azp (v2), idtyp, ver, uti, upn and name for
// users, wids and roles for the Global Administrator role, and groups, in
// Entra's overage form (_claim_names, _claim_sources) above a limit. The
// private claim xms_crid binds a token to the credential it was issued
// for, so removing or resetting that credential revokes the token at once;
// xms_kind says whether the subject is an app, a user or a managed
// identity. Signing keys are RSA-2048, kept in the (encrypting) store and
// rotated on a schedule or on demand; a retired key stays in the JWKS until
// every token it signed has expired.
//
// # Verification is cheap after the first time
//
// A verified token is cached by the SHA-256 of its text until it expires,
// so its signature is checked once. Every request still checks, from the
// in-memory directory, that the principal is enabled and its credential
// still valid, and re-resolves groups when the directory has changed.
//
// # Security
//
// Algorithms are pinned (RS256 for our tokens, RS256 or PS256 for client
// assertions, a configured asymmetric list for external issuers), so
// "alg: none" and HMAC-with-the-public-key forgeries fail before any key is
// chosen. Client assertions must name our token endpoint as audience and
// are refused when their jti is replayed. Failed authentications at the
// token and managed-identity endpoints are rate limited per client (or
// user) and per source address; successful ones cost nothing. A principal
// is told that it is disabled or its credential expired only after it has
// proved it holds the credential. Tokens, secrets and assertions never
// appear in logs or error messages.
package oidc
