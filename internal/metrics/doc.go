// Package metrics holds Coffer's Prometheus metrics: requests by
// operation and result with latency, cryptographic operations by
// algorithm, authentication failures and authorization denials, the audit
// log's write path (batch sizes, fsync latency, queue depth, refusals,
// losses, sink drops) and pool states.
//
// Everything is derived from what other packages already produce: the
// request's audit event (httpapi.RequestObserver) and the audit writer's
// statistics (audit.Observer). Label values come from bounded sets
// (operation names from the route table, pool names, algorithm names
// validated before the crypto runs), never from caller-controlled text.
//
// # Security
//
// Metrics carry no key names, principals or addresses: counts by operation
// do not identify callers. The server still guards /metrics (see the
// configuration's metrics section), because request rates by operation are
// operational information an outsider has no need for.
package metrics
