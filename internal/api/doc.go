// Package api holds the JSON wire types of the Managed HSM REST API as Coffer
// speaks it: request and response bodies for keys, cryptography, local RBAC,
// settings, full backup and the security domain, and the error envelope.
//
// The types mirror the Azure REST specifications field for field (JSON names
// included), so the HTTP layer and the CLI client share one definition. They
// carry no behaviour beyond encoding: validation happens in package httpapi,
// which translates them into the domain types of package hsm.
package api
