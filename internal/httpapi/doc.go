// Package httpapi is Coffer's HTTP front end: the Managed HSM data plane
// (keys, cryptography, local RBAC, settings, backup, security domain), with
// the identity endpoints and operational endpoints mounted beside it.
//
// It authenticates (bearer tokens, with the 401 challenge every Azure SDK
// expects before anything else), normalises paths the way Azure's clients
// need (repeated slashes, trailing slash for "latest", lower-case op names,
// role scopes in front of /providers), checks api-version, decodes and
// validates JSON into domain types, calls package hsm, and renders results
// and errors in the Key Vault wire shape. It holds no business logic.
//
// Every request produces exactly one audit event. The response is held in a
// buffer until that event is durable, so nothing is answered that the audit
// log does not hold.
package httpapi
