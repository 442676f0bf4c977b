package httpapi

import (
	"net/http"
	"strings"
)

// supportedAPIVersions are the data-plane api-versions Coffer answers: every
// version that carries Managed HSM, stable and preview, as clients send them
// (Go azkeys 2025-07-01, Python and the Azure CLI 7.4-preview.1 or 7.6,
// security domain 7.2, typed by hand 7.4 and 7.5, ...).
var supportedAPIVersions = map[string]bool{
	"7.2-preview": true, "7.2": true,
	"7.3-preview": true, "7.3": true,
	"7.4-preview.1": true, "7.4": true,
	"7.5-preview.1": true, "7.5": true,
	"7.6-preview.1": true, "7.6-preview.2": true, "7.6": true,
	"2025-06-01-preview": true, "2025-06-01": true,
	"2025-07-01-preview": true, "2025-07-01": true,
	"2026-01-01-preview": true, "2026-03-01-preview": true, "2026-04-01": true,
}

// LatestAPIVersion is the newest stable version, named in errors.
const LatestAPIVersion = "2025-07-01"

// checkAPIVersion reads api-version from the query (names arrive
// percent-encoded from some clients, e.g. api%2Dversion; the standard query
// parser decodes them). Job-status polls are exempt because the Python SDK
// polls Azure-AsyncOperation URLs as given, without adding the parameter.
func checkAPIVersion(r *http.Request) (string, error) {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		if r.Method == http.MethodGet && strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/pending") {
			return "", nil
		}
		return "", badRequest("The api-version query parameter is required. Consider using the latest supported version (%s).", LatestAPIVersion)
	}
	if !supportedAPIVersions[v] {
		return v, badRequest("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", truncate(v, 64), LatestAPIVersion)
	}
	return v, nil
}

// apiVersionFrom returns the request's api-version (for building links).
func apiVersionFrom(r *http.Request) string {
	if v := r.URL.Query().Get("api-version"); v != "" {
		return v
	}
	return LatestAPIVersion
}
