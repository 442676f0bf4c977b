// Package config holds Coffer's server configuration: the Config struct,
// its defaults, loading from a JSON file, and validation. It is the only
// package that reads the environment, and only for secrets that should not
// sit in a file (named in the field docs).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("1h", "90s").
type Duration struct{ time.Duration }

// MarshalText encodes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q", b)
	}
	d.Duration = v
	return nil
}

// Pool declares a pool the server creates on first start.
type Pool struct {
	Name string `json:"name"`
	// RetentionDays is the soft-delete retention, 7–90.
	RetentionDays int `json:"retentionDays,omitempty"`
	// PurgeProtection forbids purging deleted keys before retention ends.
	PurgeProtection bool `json:"purgeProtection,omitempty"`
	// Administrators are object ids given Managed HSM Administrator at "/".
	Administrators []string `json:"administrators,omitempty"`
	// Recovery creates the pool to receive another pool's security domain
	// (disaster recovery) instead of a new one to activate.
	Recovery bool `json:"recovery,omitempty"`
}

// Config is the server configuration.
type Config struct {
	// Listen is the TLS listener address.
	Listen string `json:"listen"`
	// DataDir holds the database, seal key, TLS material and audit log.
	DataDir string `json:"dataDir"`
	// DNSSuffix: a pool named P answers on P.<DNSSuffix>. A server with one
	// pool also answers on any host.
	DNSSuffix string `json:"dnsSuffix"`
	// Hostnames are extra names for the server certificate.
	Hostnames []string `json:"hostnames,omitempty"`
	// Audience is the token audience the data plane accepts and names in its
	// 401 challenge. Empty derives https://<DNSSuffix>[:port] from Listen, so
	// the Azure SDKs' challenge-resource check passes for pool hosts.
	Audience string `json:"audience,omitempty"`
	// ChallengeTenant is the tenant in the 401 challenge: "" for the default
	// tenant's id, or "adfs" for clients configured purely by environment
	// (AZURE_TENANT_ID=adfs), which need it to skip instance discovery.
	ChallengeTenant string `json:"challengeTenant,omitempty"`
	// TokenLifetime is the lifetime of tokens the embedded issuer mints.
	TokenLifetime Duration `json:"tokenLifetime"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `json:"maxBodyBytes"`
	// MaintenanceInterval is how often pools rotate due keys and purge
	// expired deleted keys.
	MaintenanceInterval Duration `json:"maintenanceInterval"`
	// Pools are created on first start (ignored in dev mode).
	Pools []Pool `json:"pools,omitempty"`
	// Log configures the server's own log (not the audit log).
	Log Log `json:"log"`
	// Identity configures the embedded issuer and trusted external issuers.
	Identity Identity `json:"identity"`
	// Limits are every pool's object limits; zero fields take Managed HSM's.
	Limits Limits `json:"limits"`
	// Audit configures the audit log, its forwarding sinks and alerts.
	Audit Audit `json:"audit"`
	// Metrics guards the Prometheus endpoint.
	Metrics Metrics `json:"metrics"`
	// Backup configures where full backups may go.
	Backup Backup `json:"backup"`
	// Seal configures how the node protects its domain keys at rest.
	Seal Seal `json:"seal"`

	// Dev is set by `coffer serve --dev`: a ready pool named DevPool and a
	// bootstrap administrator whose credentials go to bootstrap.json.
	Dev     bool   `json:"-"`
	DevPool string `json:"-"`
}

// Limits bound the objects a pool holds. Managed HSM's service limits are
// the defaults (a zero field means the default); raising them is a
// deliberate departure an operator makes for their own deployment.
type Limits struct {
	MaxKeys                 int `json:"maxKeys,omitempty"`                 // 5000
	MaxVersionsPerKey       int `json:"maxVersionsPerKey,omitempty"`       // 100
	MaxCustomRoles          int `json:"maxCustomRoles,omitempty"`          // 50
	MaxAssignmentsPoolScope int `json:"maxAssignmentsPoolScope,omitempty"` // 50, at "/" and "/keys" together
	MaxAssignmentsKeyScope  int `json:"maxAssignmentsKeyScope,omitempty"`  // 10 per key
}

// Backup configures full-backup storage. Azure Blob containers (a
// container URL and a SAS token in each request) are always allowed over
// https.
type Backup struct {
	// LocalRoots are the directories file:// backup targets may name
	// (the target must lie inside one); empty refuses file:// targets.
	LocalRoots []string `json:"localRoots,omitempty"`
	// AllowHTTP permits http:// container URLs on loopback addresses:
	// a local storage emulator (Azurite).
	AllowHTTP bool `json:"allowHttp,omitempty"`
}

// Seal configures the node seal: "file" (default) keeps a key file in the
// data directory; "pkcs11" keeps an AES key in a PKCS#11 token.
type Seal struct {
	Type   string `json:"type,omitempty"`
	PKCS11 PKCS11 `json:"pkcs11"`
}

// PKCS11 names the token and key of a PKCS#11 seal. The PIN is never in
// the configuration: it comes from PINEnv or PINFile.
type PKCS11 struct {
	Library    string `json:"library,omitempty"`
	Slot       *uint  `json:"slot,omitempty"`
	TokenLabel string `json:"tokenLabel,omitempty"`
	KeyLabel   string `json:"keyLabel,omitempty"`
	// PINEnv names the environment variable holding the user PIN
	// (default COFFER_PKCS11_PIN); PINFile, if set, is read instead.
	PINEnv  string `json:"pinEnv,omitempty"`
	PINFile string `json:"pinFile,omitempty"`
	// CreateKey makes the key on first start if the token has none.
	CreateKey bool `json:"createKey,omitempty"`
}

// Audit configures the audit log. Sinks and alert rules are set here only:
// nothing reachable through the API can change where events go.
type Audit struct {
	// FailOpen answers requests whose events could not be written (they
	// are counted and reported loudly). The default, fail-closed, refuses
	// them with 503.
	FailOpen bool `json:"failOpen,omitempty"`
	// RotateBytes starts a new events file past this size (default 64 MiB);
	// RotateEvery at this age (default: by size only).
	RotateBytes int64    `json:"rotateBytes,omitempty"`
	RotateEvery Duration `json:"rotateEvery,omitempty"`
	// Retain keeps at most this many rotated files per log; RetainFor
	// removes rotated files older than this. Zero keeps everything.
	Retain    int      `json:"retain,omitempty"`
	RetainFor Duration `json:"retainFor,omitempty"`
	// CheckpointEvery is how often a growing log's head is signed (default 1m).
	CheckpointEvery Duration `json:"checkpointEvery,omitempty"`
	// Stdout copies every event to standard output as a JSON line.
	Stdout bool `json:"stdout,omitempty"`
	// Webhooks receive events in batches (and alerts), for a SIEM.
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Alerts are alert rules; absent means the defaults (a burst of
	// failed authentications from one address, a burst of denials for one
	// principal, any break-glass use, any purge or security-domain
	// operation). An empty list turns alerts off.
	Alerts []json.RawMessage `json:"alerts"`
}

// Webhook is an HTTP endpoint events are POSTed to as a JSON array.
type Webhook struct {
	URL string `json:"url"`
	// Headers are added to every POST (e.g. an Authorization header for the
	// receiver); keep the configuration file private when they hold secrets.
	Headers map[string]string `json:"headers,omitempty"`
	// CAFile is a CA certificate to trust for the receiver, besides the
	// system's.
	CAFile string `json:"caFile,omitempty"`
	// Events (default true) sends every event; Alerts (default true) sends
	// every alert.
	Events *bool `json:"events,omitempty"`
	Alerts *bool `json:"alerts,omitempty"`
}

// Metrics guards /metrics. Without either field it answers 403, so request
// rates are not public by accident; --dev makes it public.
type Metrics struct {
	// Public serves /metrics to anyone who can reach the listener.
	Public bool `json:"public,omitempty"`
	// BearerTokenFile holds a token scrapers must send as
	// "Authorization: Bearer <token>" (Prometheus's bearer_token_file).
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
}

// Identity configures authentication.
type Identity struct {
	// ExternalIssuers are identity providers whose tokens the data plane
	// accepts besides the embedded issuer's (Entra ID, Keycloak, Dex, or
	// another Coffer). Reloaded on SIGHUP.
	ExternalIssuers []ExternalIssuer `json:"externalIssuers,omitempty"`
	// IMDSResource names the directory resource whose managed identities
	// the IMDS-shaped endpoint serves, without a header secret, to callers
	// on this machine (as a VM's IMDS does); empty disables that headerless
	// form. Callers presenting a resource's X-IDENTITY-HEADER are served
	// either way.
	IMDSResource string `json:"imdsResource,omitempty"`
	// GroupOverageLimit is the most groups a token carries (default 200).
	GroupOverageLimit int `json:"groupOverageLimit,omitempty"`
	// FailureBurst failed sign-ins per client and per address are
	// tolerated, then one per FailureRefill (defaults 10 and 6s).
	FailureBurst  int      `json:"failureBurst,omitempty"`
	FailureRefill Duration `json:"failureRefill,omitempty"`
}

// ExternalIssuer is a trusted identity provider.
type ExternalIssuer struct {
	// Issuer is the exact iss value of its tokens.
	Issuer string `json:"issuer"`
	// Audiences its tokens must carry one of (default: the data-plane audience).
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms accepted (default RS256).
	Algorithms []string `json:"algorithms,omitempty"`
	// TenantID, when set, must equal the tokens' tid claim.
	TenantID string `json:"tenantId,omitempty"`
	// ObjectIDClaim and GroupsClaim name the principal-id and groups claims
	// (defaults oid, then sub; and groups).
	ObjectIDClaim string `json:"objectIdClaim,omitempty"`
	GroupsClaim   string `json:"groupsClaim,omitempty"`
	// JWKSURL skips OpenID discovery.
	JWKSURL string `json:"jwksUrl,omitempty"`
	// CAFile is a PEM bundle to trust for this issuer's TLS, in addition to
	// the system roots.
	CAFile string `json:"caFile,omitempty"`
}

// Log configures logging.
type Log struct {
	Level  string `json:"level"`  // debug, info, warn, error
	Format string `json:"format"` // text or json
}

// Default returns a complete configuration for a local server.
func Default() Config {
	return Config{
		Listen:              "127.0.0.1:8443",
		DataDir:             "coffer-data",
		DNSSuffix:           "mhsm.localhost",
		TokenLifetime:       Duration{time.Hour},
		MaxBodyBytes:        1 << 20,
		MaintenanceInterval: Duration{time.Minute},
		Log:                 Log{Level: "info", Format: "text"},
		DevPool:             "dev",
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Load reads a JSON configuration file over the defaults. Unknown fields
// are errors, so a typo cannot silently leave a default in place.
func Load(path string) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: reading %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	poolName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{1,22}[a-z0-9])$`)
)

// ValidPoolName reports whether s is a valid pool name: 3–24 characters of
// lower-case letters, digits and inner hyphens (it is a DNS label).
func ValidPoolName(s string) bool { return poolName.MatchString(s) }

// Validate checks the configuration and fills derived values.
func (c *Config) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %v", c.Listen, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("listen %q: invalid port", c.Listen))
	}
	_ = host
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir is required"))
	}
	c.DNSSuffix = strings.ToLower(strings.Trim(c.DNSSuffix, "."))
	for _, l := range strings.Split(c.DNSSuffix, ".") {
		if !dnsLabel.MatchString(l) {
			errs = append(errs, fmt.Errorf("dnsSuffix %q is not a DNS name", c.DNSSuffix))
			break
		}
	}
	if c.Audience == "" && err == nil {
		c.Audience = "https://" + c.DNSSuffix
		if port != "443" {
			c.Audience += ":" + port
		}
	}
	if !strings.HasPrefix(c.Audience, "https://") || strings.ContainsAny(c.Audience, " =,\"") {
		errs = append(errs, fmt.Errorf("audience %q must be an https URL without spaces, commas, quotes or '='", c.Audience))
	}
	c.Audience = strings.TrimRight(c.Audience, "/")
	if c.ChallengeTenant != "" && c.ChallengeTenant != "adfs" {
		errs = append(errs, fmt.Errorf("challengeTenant must be empty (the default tenant) or \"adfs\", not %q", c.ChallengeTenant))
	}
	if c.TokenLifetime.Duration < 5*time.Minute || c.TokenLifetime.Duration > 24*time.Hour {
		errs = append(errs, fmt.Errorf("tokenLifetime %s must be between 5m and 24h", c.TokenLifetime))
	}
	if c.MaxBodyBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("maxBodyBytes %d is below the 64 KiB a key restore can need", c.MaxBodyBytes))
	}
	if c.MaintenanceInterval.Duration < time.Second {
		errs = append(errs, fmt.Errorf("maintenanceInterval %s is too short", c.MaintenanceInterval))
	}
	for name, v := range map[string]int{"maxKeys": c.Limits.MaxKeys, "maxVersionsPerKey": c.Limits.MaxVersionsPerKey,
		"maxCustomRoles": c.Limits.MaxCustomRoles, "maxAssignmentsPoolScope": c.Limits.MaxAssignmentsPoolScope,
		"maxAssignmentsKeyScope": c.Limits.MaxAssignmentsKeyScope} {
		if v < 0 || v > 1_000_000 {
			errs = append(errs, fmt.Errorf("limits.%s %d must be between 0 (the default) and 1000000", name, v))
		}
	}
	for i, w := range c.Audit.Webhooks {
		u, err := url.Parse(w.URL)
		switch {
		case err != nil || u.Host == "":
			errs = append(errs, fmt.Errorf("audit.webhooks[%d].url %q is not a URL", i, w.URL))
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
			errs = append(errs, fmt.Errorf("audit.webhooks[%d].url must be https (http only to a loopback address)", i))
		case u.User != nil:
			errs = append(errs, fmt.Errorf("audit.webhooks[%d].url must not carry credentials; use headers", i))
		}
	}
	if c.Audit.RotateBytes < 0 || c.Audit.Retain < 0 {
		errs = append(errs, errors.New("audit.rotateBytes and audit.retain must not be negative"))
	}
	for i, r := range c.Backup.LocalRoots {
		if !filepath.IsAbs(r) {
			errs = append(errs, fmt.Errorf("backup.localRoots[%d] %q must be an absolute path", i, r))
		}
	}
	switch c.Seal.Type {
	case "", "file":
	case "pkcs11":
		k := c.Seal.PKCS11
		if k.Library == "" {
			errs = append(errs, errors.New("seal.pkcs11.library is required: the path of the token's PKCS#11 module"))
		}
		if (k.Slot == nil) == (k.TokenLabel == "") {
			errs = append(errs, errors.New("seal.pkcs11: set exactly one of slot and tokenLabel"))
		}
		if k.KeyLabel == "" {
			c.Seal.PKCS11.KeyLabel = "coffer-seal"
		}
		if k.PINEnv == "" {
			c.Seal.PKCS11.PINEnv = "COFFER_PKCS11_PIN"
		}
	default:
		errs = append(errs, fmt.Errorf("seal.type %q must be \"file\" or \"pkcs11\"", c.Seal.Type))
	}
	if c.Dev && !ValidPoolName(c.DevPool) {
		errs = append(errs, fmt.Errorf("dev pool name %q must be 3-24 lower-case letters, digits or hyphens", c.DevPool))
	}
	seen := map[string]bool{}
	for _, p := range c.Pools {
		if !ValidPoolName(p.Name) {
			errs = append(errs, fmt.Errorf("pool name %q must be 3-24 lower-case letters, digits or hyphens", p.Name))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("pool %q is declared twice", p.Name))
		}
		seen[p.Name] = true
		if p.RetentionDays != 0 && (p.RetentionDays < 7 || p.RetentionDays > 90) {
			errs = append(errs, fmt.Errorf("pool %q: retentionDays must be 7 to 90", p.Name))
		}
	}
	for i, e := range c.Identity.ExternalIssuers {
		if u, err := url.Parse(e.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("identity.externalIssuers[%d].issuer %q must be an https URL", i, e.Issuer))
		}
		for _, a := range e.Algorithms {
			switch a {
			case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
			default:
				errs = append(errs, fmt.Errorf("identity.externalIssuers[%d]: algorithm %q is not an asymmetric JWS algorithm", i, a))
			}
		}
	}
	if c.Identity.GroupOverageLimit < 0 || c.Identity.FailureBurst < 0 {
		errs = append(errs, errors.New("identity limits must not be negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q must be debug, info, warn or error", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q must be text or json", c.Log.Format))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return nil
}

// Port returns the listener's port.
func (c *Config) Port() string {
	_, port, _ := net.SplitHostPort(c.Listen)
	return port
}

// CertificateHosts are the names and addresses the server certificate must
// cover: loopback, the configured host names, and every pool host under the
// DNS suffix (as a wildcard).
func (c *Config) CertificateHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", c.DNSSuffix, "*." + c.DNSSuffix}
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" && h != "127.0.0.1" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return append(hosts, c.Hostnames...)
}
