package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

// clientOptions are the flags every client command shares.
type clientOptions struct {
	out      outputOptions
	hsmURL   string
	audience string
	server   string
	caFile   string
	tenant   string
}

func (o *clientOptions) register(cmd *cobra.Command) {
	o.out.register(cmd)
	f := cmd.PersistentFlags()
	f.StringVar(&o.hsmURL, "hsm-url", "", "pool URL (default: from coffer login)")
	f.StringVar(&o.server, "server", "", "server (issuer) URL (default: from coffer login)")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate to trust (default: from coffer login)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id or name (default: from coffer login)")
}

// client builds a client from the saved profile and the flags.
func (o *clientOptions) client() (*client.Client, error) {
	p, err := client.LoadProfile()
	if err != nil {
		return nil, &exitError{code: exitAuth, err: err}
	}
	if o.hsmURL != "" {
		p.HSMURL = o.hsmURL
		if o.audience == "" && p.Audience == "" {
			p.Audience = audienceFor(o.hsmURL)
		}
	}
	if o.audience != "" {
		p.Audience = o.audience
	}
	if o.server != "" {
		p.Server = o.server
	}
	if o.caFile != "" {
		p.CAFile = o.caFile
	}
	if o.tenant != "" {
		p.Tenant = o.tenant
	}
	return client.New(p)
}

// audienceFor derives a pool's token audience from its URL: the parent
// domain with the same port (https://dev.mhsm.localhost:8443 →
// https://mhsm.localhost:8443). An IP address gives no parent domain; then
// --audience must be passed.
func audienceFor(hsmURL string) string {
	u, err := url.Parse(hsmURL)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return ""
	}
	host := u.Hostname()
	i := strings.Index(host, ".")
	if i < 0 {
		return ""
	}
	a := "https://" + host[i+1:]
	if p := u.Port(); p != "" && p != "443" {
		a += ":" + p
	}
	return a
}

// run runs a client command and prints its result.
func (o *clientOptions) run(s *streams, fn func(ctx context.Context, c *client.Client) (any, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		v, err := fn(cmd.Context(), c)
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && (ce.Status == 401 || ce.Status == 403) {
				return &exitError{code: exitAuth, err: err}
			}
			return err
		}
		if v == nil {
			return nil
		}
		return o.out.print(s.out, v)
	}
}

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}
