package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

func newLoginCommand(s *streams) *cobra.Command {
	var (
		o                       clientOptions
		sp                      bool
		username, password      string
		passwordStdin           bool
		bootstrapFile, audience string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a Coffer server and save the profile",
		Long: `Sign in to a Coffer server as a service principal (client secret, or a PEM file with a
certificate and its private key) or as a user (user name and password), and save the
profile the other client commands use ($COFFER_CONFIG_DIR or ~/.config/coffer, mode 0600).

A service principal's secret or certificate path is kept in the profile, as the Azure CLI
keeps service-principal credentials. A user's password is never saved: the profile keeps
the access token, and you sign in again when it expires.

--bootstrap reads everything from the bootstrap.json of a development server.`,
		Example: `  coffer login --bootstrap coffer-data/bootstrap.json
  coffer login --server https://localhost:8443 --tenant $TENANT --ca-file coffer-data/ca.pem \
      --hsm-url https://dev.mhsm.localhost:8443 --service-principal -u $APP_ID -p $SECRET
  coffer login --server https://localhost:8443 --tenant $TENANT --ca-file ca.pem -u alice@contoso -p -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := client.Profile{Server: o.server, Tenant: o.tenant, CAFile: o.caFile, HSMURL: o.hsmURL, Audience: audience}
			if bootstrapFile != "" {
				raw, err := os.ReadFile(bootstrapFile)
				if err != nil {
					return usageErr("reading %s: %v", bootstrapFile, err)
				}
				var b struct {
					TenantID, ClientID, ClientSecret, AuthorityHost, HSMURL, Audience, CAFile string
				}
				if err := json.Unmarshal(raw, &b); err != nil {
					return usageErr("%s is not a bootstrap file: %v", bootstrapFile, err)
				}
				p = client.Profile{Server: b.AuthorityHost, Tenant: b.TenantID, CAFile: b.CAFile, HSMURL: b.HSMURL, Audience: b.Audience,
					ClientID: b.ClientID, ClientSecret: b.ClientSecret}
			} else {
				if p.Server == "" {
					return usageErr("--server is required (or --bootstrap)")
				}
				if password == "-" || passwordStdin {
					line, err := bufio.NewReader(s.in).ReadString('\n')
					if err != nil && line == "" {
						return usageErr("reading the password from standard input: %v", err)
					}
					password = strings.TrimRight(line, "\r\n")
				}
				switch {
				case sp && username != "" && password != "":
					p.ClientID = username
					if st, err := os.Stat(password); err == nil && !st.IsDir() && strings.HasSuffix(strings.ToLower(password), ".pem") {
						abs, _ := filepath.Abs(password)
						if _, _, err := client.LoadCertificateFile(abs); err != nil {
							return usageErr("%v", err)
						}
						p.CertificateFile = abs
					} else {
						p.ClientSecret = password
					}
				case !sp && username != "" && password != "":
					p.Username = username
					p = p.WithPassword(password)
				default:
					return usageErr("give --service-principal -u APP_ID -p SECRET_OR_PEM, or -u USER -p PASSWORD")
				}
				if p.Audience == "" && p.HSMURL != "" {
					p.Audience = audienceFor(p.HSMURL)
				}
			}
			if p.CAFile != "" {
				p.CAFile, _ = filepath.Abs(p.CAFile)
			}
			c, err := client.New(p)
			if err != nil {
				return err
			}
			resource := p.Audience
			if resource == "" {
				resource = client.DirectoryAudience
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			tok, exp, err := c.Token(ctx, resource)
			if err != nil {
				return &exitError{code: exitAuth, err: fmt.Errorf("signing in: %w", err)}
			}
			if p.Username != "" {
				p.AccessToken, p.AccessTokenExpires = tok, exp
			}
			if err := client.SaveProfile(p); err != nil {
				return err
			}
			kind, name := "servicePrincipal", p.ClientID
			if p.Username != "" {
				kind, name = "user", p.Username
			}
			return o.out.print(s.out, map[string]any{"server": p.Server, "tenantId": p.Tenant, "hsmUrl": p.HSMURL,
				"user": map[string]string{"name": name, "type": kind}})
		},
	}
	o.out.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "server (issuer) URL, e.g. https://localhost:8443")
	f.StringVar(&o.tenant, "tenant", "", "tenant id or name")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate to trust")
	f.StringVar(&o.hsmURL, "hsm-url", "", "pool URL the data-plane commands use")
	f.StringVar(&audience, "audience", "", "data-plane token audience (default: derived from --hsm-url)")
	f.BoolVar(&sp, "service-principal", false, "sign in as a service principal")
	f.StringVarP(&username, "username", "u", "", "application (client) id, or user name")
	f.StringVarP(&password, "password", "p", "", "client secret, PEM certificate file, or user password (- reads standard input)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password or secret from standard input")
	f.StringVar(&bootstrapFile, "bootstrap", "", "bootstrap.json of a development server")
	return cmd
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use: "logout", Short: "Forget the saved profile", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return client.DeleteProfile() },
	}
}

func newTokenCommand(s *streams) *cobra.Command {
	var o clientOptions
	var resource string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print an access token for scripts (like az account get-access-token)",
		Long: `Print an access token for the pool's audience (or --resource) with the saved profile's
identity, in the shape of az account get-access-token. Treat the output as a secret.`,
		Example: `  curl -H "Authorization: Bearer $(coffer token --query accessToken -o tsv)" ...`,
		Args:    cobra.NoArgs,
	}
	cmd.RunE = o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
		r := resource
		if r == "" {
			r = c.Profile.Audience
		}
		if r == "" {
			return nil, usageErr("no audience: pass --resource")
		}
		tok, exp, err := c.Token(ctx, r)
		if err != nil {
			return nil, err
		}
		return map[string]any{"accessToken": tok, "expiresOn": exp.Format("2006-01-02 15:04:05.000000"), "expires_on": exp.Unix(),
			"tenant": c.Profile.Tenant, "tokenType": "Bearer", "resource": r}, nil
	})
	o.register(cmd)
	cmd.Flags().StringVar(&resource, "resource", "", "audience of the token (default: the pool's)")
	return cmd
}
