// Package authz is Managed HSM local RBAC: the data actions (permission
// strings), role definitions (the built-in roles with Azure's GUIDs, names
// and permissions, and custom roles), role assignments at the scopes "/",
// "/keys" and "/keys/{name}", and Decide, which answers whether a principal
// may perform an action on a scope.
//
// # Semantics
//
// A principal may perform action A on scope S when one of its identities
// (its object id or a group it belongs to) holds an assignment at S or an
// ancestor of S ("/" ⊇ "/keys" ⊇ "/keys/{name}") whose role grants A: A is
// in the role's dataActions and not in that same role's notDataActions.
// notDataActions subtract only within their role; there are no deny
// assignments, so another role can still grant what one role excludes. An
// assignment whose role definition no longer exists grants nothing.
//
// # Decisions are precomputed
//
// A Policy is an immutable snapshot built once per change of roles or
// assignments: for every principal id it holds a small map from scope to a
// bitset of granted actions. Decide does a handful of map lookups and never
// scans assignments, so its cost does not grow with their number.
//
// # Wildcards and extensions
//
// Custom roles accept exactly the permission strings Managed HSM defines;
// wildcards ("*") are rejected, like every unknown string, with an error
// naming it. Managed HSM publishes no data action for the settings API, so
// Coffer defines two in the same namespace, settings/read/action and
// settings/write/action. They are Coffer extensions: built-in roles imply
// them (read for every role that manages keys or roles, write for
// Administrator) without listing them, so built-in definitions on the wire
// stay identical to Azure's, and custom roles may name them. Likewise
// audit/read/action reads the pool's audit log through Coffer's audit API;
// Administrator and Crypto Auditor imply it. Nothing can write the log
// through the API.
package authz
