package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/server"
	"github.com/spf13/cobra"
)

func newServeCommand(s *streams) *cobra.Command {
	var (
		configPath string
		dev        bool
		o          config.Config
		hostnames  []string
		localRoots []string
		slot       uint
	)
	defaults := config.Default()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Coffer server",
		Long: `Run the Coffer server: the Managed HSM data plane, the embedded identity provider,
and the operational endpoints, on one TLS listener.

On first start the server creates its data directory: a bbolt database, a node seal key
(seal.key, mode 0600), a private certificate authority and server certificate (tls/,
with the CA also at ca.pem and served at /ca.pem), and the audit log (audit/).

With --dev it also creates a pool (named "dev" unless --dev-pool says otherwise) and an
administrator service principal, and writes bootstrap.json with everything an Azure SDK
application needs to connect. Development mode is for local work and CI: its
credentials sit in a file beside the data.

Flags override the configuration file, which overrides the defaults.`,
		Example: `  coffer serve --dev
  coffer serve --config /etc/coffer/coffer.json
  coffer serve --listen :443 --dns-suffix managedhsm.azure.net --audience https://managedhsm.azure.net`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if configPath != "" {
				var err error
				if cfg, err = config.Load(configPath); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			}
			f := cmd.Flags()
			if f.Changed("listen") {
				cfg.Listen = o.Listen
			}
			if f.Changed("data") {
				cfg.DataDir = o.DataDir
			}
			if f.Changed("dns-suffix") {
				cfg.DNSSuffix = o.DNSSuffix
			}
			if f.Changed("audience") {
				cfg.Audience = o.Audience
			}
			if f.Changed("challenge-tenant") {
				cfg.ChallengeTenant = o.ChallengeTenant
			}
			if f.Changed("hostname") {
				cfg.Hostnames = append(cfg.Hostnames, hostnames...)
			}
			if f.Changed("log-level") {
				cfg.Log.Level = o.Log.Level
			}
			if f.Changed("log-format") {
				cfg.Log.Format = o.Log.Format
			}
			if f.Changed("token-lifetime") {
				cfg.TokenLifetime = o.TokenLifetime
			}
			if f.Changed("backup-local-root") {
				cfg.Backup.LocalRoots = append(cfg.Backup.LocalRoots, localRoots...)
			}
			if f.Changed("backup-allow-http") {
				cfg.Backup.AllowHTTP = o.Backup.AllowHTTP
			}
			if f.Changed("seal") {
				cfg.Seal.Type = o.Seal.Type
			}
			k, ko := &cfg.Seal.PKCS11, o.Seal.PKCS11
			for flag, set := range map[string]func(){
				"pkcs11-library":     func() { k.Library = ko.Library },
				"pkcs11-token-label": func() { k.TokenLabel = ko.TokenLabel },
				"pkcs11-slot":        func() { k.Slot = &slot },
				"pkcs11-key-label":   func() { k.KeyLabel = ko.KeyLabel },
				"pkcs11-pin-env":     func() { k.PINEnv = ko.PINEnv },
				"pkcs11-pin-file":    func() { k.PINFile = ko.PINFile },
				"pkcs11-create-key":  func() { k.CreateKey = ko.CreateKey },
			} {
				if f.Changed(flag) {
					set()
				}
			}
			cfg.Dev = dev
			if f.Changed("dev-pool") {
				cfg.DevPool = o.DevPool
			}
			if err := cfg.Validate(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			logger := newLogger(s, cfg.Log)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, cfg, logger)
			if err != nil {
				return err
			}
			if b := srv.Bootstrap(); b != nil {
				printBootstrap(s, b, srv.BootstrapFile())
			}
			// SIGHUP re-reads the configuration file for the settings that
			// can change while running (trusted external issuers).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if configPath == "" {
						logger.Warn("SIGHUP ignored: the server was started without --config")
						continue
					}
					next, err := config.Load(configPath)
					if err == nil {
						err = next.Validate()
					}
					if err == nil {
						err = srv.Reload(next)
					}
					if err != nil {
						logger.Error("reloading the configuration failed; keeping the running one", slog.Any("err", err))
					}
				}
			}()
			return srv.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration file (JSON)")
	f.BoolVar(&dev, "dev", false, "development mode: a ready pool and an administrator in bootstrap.json")
	f.StringVar(&o.Listen, "listen", defaults.Listen, "TLS listener address")
	f.StringVar(&o.DataDir, "data", defaults.DataDir, "data directory")
	f.StringVar(&o.DNSSuffix, "dns-suffix", defaults.DNSSuffix, "pools answer on <pool>.<suffix>")
	f.StringVar(&o.Audience, "audience", "", "token audience of the data plane (default https://<dns-suffix>[:port])")
	f.StringVar(&o.ChallengeTenant, "challenge-tenant", "", `tenant named in 401 challenges: empty for the default tenant's id, or "adfs"`)
	f.StringSliceVar(&hostnames, "hostname", nil, "extra host name for the server certificate (repeatable)")
	f.StringVar(&o.Log.Level, "log-level", defaults.Log.Level, "log level: debug, info, warn, error")
	f.StringVar(&o.Log.Format, "log-format", defaults.Log.Format, "log format: text or json")
	f.Var(durationFlag{&o.TokenLifetime}, "token-lifetime", "lifetime of issued tokens")
	f.StringVar(&o.DevPool, "dev-pool", defaults.DevPool, "name of the development pool")
	f.StringSliceVar(&localRoots, "backup-local-root", nil, "directory file:// backup targets may use (repeatable)")
	f.BoolVar(&o.Backup.AllowHTTP, "backup-allow-http", false, "allow http:// blob containers on loopback addresses (a local storage emulator)")
	f.StringVar(&o.Seal.Type, "seal", "file", `node seal: "file" (a key file in the data directory) or "pkcs11" (a key in a PKCS#11 token)`)
	f.StringVar(&o.Seal.PKCS11.Library, "pkcs11-library", "", "PKCS#11 module of the seal's token")
	f.StringVar(&o.Seal.PKCS11.TokenLabel, "pkcs11-token-label", "", "label of the seal's token (or --pkcs11-slot)")
	f.UintVar(&slot, "pkcs11-slot", 0, "slot of the seal's token (or --pkcs11-token-label)")
	f.StringVar(&o.Seal.PKCS11.KeyLabel, "pkcs11-key-label", "coffer-seal", "label of the AES key that seals this node")
	f.StringVar(&o.Seal.PKCS11.PINEnv, "pkcs11-pin-env", "COFFER_PKCS11_PIN", "environment variable holding the token's user PIN")
	f.StringVar(&o.Seal.PKCS11.PINFile, "pkcs11-pin-file", "", "file holding the token's user PIN (instead of the environment)")
	f.BoolVar(&o.Seal.PKCS11.CreateKey, "pkcs11-create-key", false, "make the seal key in the token if it has none (first start)")
	return cmd
}

// durationFlag adapts config.Duration to pflag.
type durationFlag struct{ d *config.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}
func (f durationFlag) Set(s string) error { return f.d.UnmarshalText([]byte(s)) }
func (durationFlag) Type() string         { return "duration" }

func newLogger(s *streams, c config.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(s.err, opts))
	}
	return slog.New(slog.NewTextHandler(s.err, opts))
}

func printBootstrap(s *streams, b *server.Bootstrap, file string) {
	fmt.Fprintf(s.out, `
Coffer development server — pool %q is ready.

  HSM URL:      %s   (by address: %s)
  Audience:     %s
  Bootstrap:    %s

Map the pool's host name once (the Azure SDKs check it against the audience):
  echo "127.0.0.1 %s" | sudo tee -a /etc/hosts

Environment for an Azure SDK application (DefaultAzureCredential and friends):
  export AZURE_TENANT_ID=%s
  export AZURE_CLIENT_ID=%s
  export AZURE_CLIENT_SECRET=%s
  export AZURE_AUTHORITY_HOST=%s
  export SSL_CERT_FILE=%s REQUESTS_CA_BUNDLE=%s NODE_EXTRA_CA_CERTS=%s
  export COFFER_HSM_URL=%s

Applications configured only by environment variables should use AZURE_TENANT_ID=adfs
(the SDKs then skip instance discovery); start the server with --challenge-tenant adfs
for Go applications configured that way.

`, b.PoolName, b.HSMURL, b.HSMURLByAddress, b.Audience, file, hostOnly(b.HSMURL),
		b.TenantID, b.ClientID, b.ClientSecret, b.AuthorityHost, b.CAFile, b.CAFile, b.CAFile, b.HSMURL)
}

func hostOnly(url string) string {
	h := url[len("https://"):]
	for i := 0; i < len(h); i++ {
		if h[i] == ':' || h[i] == '/' {
			return h[:i]
		}
	}
	return h
}
