package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

func newDirectoryCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{
		Use:     "directory",
		Aliases: []string{"ad"},
		Short:   "Manage the embedded directory: users, groups, service principals, managed identities",
		Long: `Manage the embedded directory through the server's directory API. Every command except
"directory me" needs a Global Administrator of the tenant.

Secrets (client secrets, managed-identity header secrets) are printed once, when created;
the directory keeps only their hashes.`,
	}
	o.register(cmd)
	tp := func(c *client.Client, rest string) string { return "/" + url.PathEscape(c.Profile.Tenant) + rest }
	leaf := func(use, short string, args cobra.PositionalArgs, fn func(ctx context.Context, c *client.Client, args []string) (any, error)) *cobra.Command {
		sub := &cobra.Command{Use: use, Short: short, Args: args}
		sub.RunE = func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) { return fn(ctx, c, args) })(cc, args)
		}
		return sub
	}
	get := func(path string) func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		return func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			var out any
			return out, c.Directory(ctx, "GET", tp(c, path), nil, &out)
		}
	}
	list := func(kind string) func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		return get("/principals?kind=" + kind)
	}
	show := func(ctx context.Context, c *client.Client, args []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "GET", tp(c, "/principals/"+url.PathEscape(args[0])), nil, &out)
	}
	patch := func(body map[string]any) func(ctx context.Context, c *client.Client, args []string) (any, error) {
		return func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var out any
			return out, c.Directory(ctx, "PATCH", tp(c, "/principals/"+url.PathEscape(args[0])), body, &out)
		}
	}
	del := func(ctx context.Context, c *client.Client, args []string) (any, error) {
		return nil, c.Directory(ctx, "DELETE", tp(c, "/principals/"+url.PathEscape(args[0])), nil, nil)
	}
	// Help texts name kinds in words, not API kinds.
	words := map[string][2]string{"user": {"user", "users"}, "group": {"group", "groups"},
		"servicePrincipal": {"service principal", "service principals"}, "managedIdentity": {"managed identity", "managed identities"}}
	lifecycle := func(parent *cobra.Command, kind string) {
		w, ws := words[kind][0], words[kind][1]
		parent.AddCommand(
			leaf("list", "List "+ws, cobra.NoArgs, list(kind)),
			leaf("show ID", "Show a "+w, cobra.ExactArgs(1), show),
			leaf("disable ID", "Disable a "+w+": it is cut off on its next request", cobra.ExactArgs(1), patch(map[string]any{"enabled": false})),
			leaf("enable ID", "Enable a "+w, cobra.ExactArgs(1), patch(map[string]any{"enabled": true})),
			leaf("delete ID", "Delete a "+w, cobra.ExactArgs(1), del),
		)
	}

	// me and tenants
	cmd.AddCommand(leaf("me", "Show the signed-in principal", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "GET", "/me", nil, &out)
	}))
	tenant := &cobra.Command{Use: "tenant", Short: "Manage tenants"}
	tenant.AddCommand(
		leaf("list", "List tenants", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
			var out any
			return out, c.Directory(ctx, "GET", "/tenants", nil, &out)
		}),
		leaf("create NAME", "Create a tenant and its first Global Administrator (its secret is printed once)", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var out any
			return out, c.Directory(ctx, "POST", "/tenants", map[string]string{"name": args[0]}, &out)
		}))
	cmd.AddCommand(tenant)

	// users
	var upn, displayName, password string
	user := &cobra.Command{Use: "user", Short: "Manage users"}
	create := leaf("create", "Create a user", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		pw, err := readSecret(s, password)
		if err != nil {
			return nil, err
		}
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/users"), map[string]string{"userPrincipalName": upn, "displayName": displayName, "password": pw}, &out)
	})
	create.Flags().StringVar(&upn, "upn", "", "user principal name (name@domain)")
	create.Flags().StringVar(&displayName, "display-name", "", "display name")
	create.Flags().StringVar(&password, "password", "-", "password (- reads standard input); at least 12 characters")
	create.MarkFlagRequired("upn")
	create.MarkFlagRequired("display-name")
	setpw := leaf("set-password ID", "Set a user's password (revokes tokens issued with the old one)", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		pw, err := readSecret(s, password)
		if err != nil {
			return nil, err
		}
		return nil, c.Directory(ctx, "POST", tp(c, "/users/"+url.PathEscape(args[0])+"/password"), map[string]string{"password": pw}, nil)
	})
	setpw.Flags().StringVar(&password, "password", "-", "new password (- reads standard input)")
	user.AddCommand(create, setpw)
	lifecycle(user, "user")
	cmd.AddCommand(user)

	// groups
	var groupName string
	group := &cobra.Command{Use: "group", Short: "Manage groups (members may be any principal, groups included)"}
	gcreate := leaf("create", "Create a group", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/groups"), map[string]string{"displayName": groupName}, &out)
	})
	gcreate.Flags().StringVar(&groupName, "name", "", "group name")
	gcreate.MarkFlagRequired("name")
	member := &cobra.Command{Use: "member", Short: "Manage a group's members"}
	member.AddCommand(
		leaf("add GROUP_ID MEMBER_ID", "Add a member", cobra.ExactArgs(2), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			return nil, c.Directory(ctx, "POST", tp(c, "/groups/"+url.PathEscape(args[0])+"/members"), map[string]string{"objectId": args[1]}, nil)
		}),
		leaf("remove GROUP_ID MEMBER_ID", "Remove a member: it loses the group's access on its next request", cobra.ExactArgs(2), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			return nil, c.Directory(ctx, "DELETE", tp(c, "/groups/"+url.PathEscape(args[0])+"/members/"+url.PathEscape(args[1])), nil, nil)
		}),
		leaf("list GROUP_ID", "List direct members", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var g struct {
				Members []string `json:"members"`
			}
			if err := c.Directory(ctx, "GET", tp(c, "/principals/"+url.PathEscape(args[0])), nil, &g); err != nil {
				return nil, err
			}
			if g.Members == nil {
				g.Members = []string{}
			}
			return g.Members, nil
		}))
	group.AddCommand(gcreate, member)
	lifecycle(group, "group")
	cmd.AddCommand(group)

	// service principals
	var spName, expires, certFile, generate string
	sp := &cobra.Command{Use: "sp", Aliases: []string{"servicePrincipal"}, Short: "Manage service principals (applications)"}
	spcreate := leaf("create", "Create a service principal and its first client secret", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/servicePrincipals"), map[string]string{"displayName": spName}, &out)
	})
	spcreate.Flags().StringVar(&spName, "name", "", "display name")
	spcreate.MarkFlagRequired("name")
	cred := &cobra.Command{Use: "credential", Short: "Manage a service principal's secrets and certificates"}
	addSecret := leaf("add ID", "Add a client secret (printed once)", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		body := map[string]any{}
		if expires != "" {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				if t, err = time.Parse("2006-01-02", expires); err != nil {
					return nil, usageErr("--expires must be RFC 3339 or YYYY-MM-DD")
				}
			}
			body["expires"] = t
		}
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/servicePrincipals/"+url.PathEscape(args[0])+"/secrets"), body, &out)
	})
	addSecret.Flags().StringVar(&expires, "expires", "", "expiry (RFC 3339 or YYYY-MM-DD)")
	addCert := leaf("add-cert ID", "Register a certificate for client-assertion sign-in", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		var certPEM []byte
		switch {
		case generate != "":
			var keyPEM []byte
			var err error
			if certPEM, keyPEM, err = selfSignedCertificate("coffer service principal " + args[0]); err != nil {
				return nil, err
			}
			if err := os.WriteFile(generate, append(append([]byte{}, keyPEM...), certPEM...), 0o600); err != nil {
				return nil, err
			}
		case certFile != "":
			raw, err := os.ReadFile(certFile)
			if err != nil {
				return nil, err
			}
			for rest := raw; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				if b.Type == "CERTIFICATE" {
					certPEM = pem.EncodeToMemory(b)
					break
				}
			}
			if certPEM == nil {
				return nil, usageErr("%s holds no CERTIFICATE", certFile)
			}
		default:
			return nil, usageErr("give --cert FILE or --generate OUT.pem")
		}
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/servicePrincipals/"+url.PathEscape(args[0])+"/certificates"), map[string]string{"certificate": string(certPEM)}, &out)
	})
	addCert.Flags().StringVar(&certFile, "cert", "", "PEM file holding the certificate (a private key in it is not sent)")
	addCert.Flags().StringVar(&generate, "generate", "", "generate an RSA key and self-signed certificate, write both to this PEM file (0600), and register the certificate")
	cred.AddCommand(addSecret, addCert,
		leaf("reset ID", "Remove every secret and certificate and issue one new secret", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			var out any
			return out, c.Directory(ctx, "POST", tp(c, "/servicePrincipals/"+url.PathEscape(args[0])+"/resetCredentials"), nil, &out)
		}),
		leaf("remove ID CREDENTIAL_ID", "Remove one credential: tokens issued with it stop working", cobra.ExactArgs(2), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			return nil, c.Directory(ctx, "DELETE", tp(c, "/servicePrincipals/"+url.PathEscape(args[0])+"/credentials/"+url.PathEscape(args[1])), nil, nil)
		}))
	sp.AddCommand(spcreate, cred)
	lifecycle(sp, "servicePrincipal")
	cmd.AddCommand(sp)

	// managed identities and resources
	var resName, miName string
	res := &cobra.Command{Use: "resource", Short: "Manage resources (VMs, apps) that use managed identities"}
	rcreate := leaf("create NAME", "Register a resource and print its identity-endpoint secret (IDENTITY_HEADER) once", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/resources"), map[string]string{"name": args[0]}, &out)
	})
	res.AddCommand(rcreate,
		leaf("list", "List resources", cobra.NoArgs, get("/resources")),
		leaf("delete NAME", "Delete a resource and its system-assigned identity", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
			return nil, c.Directory(ctx, "DELETE", tp(c, "/resources/"+url.PathEscape(args[0])), nil, nil)
		}))
	mi := &cobra.Command{Use: "mi", Aliases: []string{"identity"}, Short: "Manage managed identities"}
	system := leaf("system-assign", "Give a resource its system-assigned identity", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/resources/"+url.PathEscape(resName)+"/systemIdentity"), nil, &out)
	})
	system.Flags().StringVar(&resName, "resource", "", "resource name")
	system.MarkFlagRequired("resource")
	micreate := leaf("create", "Create a user-assigned identity", cobra.NoArgs, func(ctx context.Context, c *client.Client, _ []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/managedIdentities"), map[string]string{"name": miName}, &out)
	})
	micreate.Flags().StringVar(&miName, "name", "", "identity name")
	micreate.MarkFlagRequired("name")
	attach := leaf("attach ID", "Let a resource use a user-assigned identity", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "POST", tp(c, "/managedIdentities/"+url.PathEscape(args[0])+"/attach"), map[string]string{"resource": resName}, &out)
	})
	attach.Flags().StringVar(&resName, "resource", "", "resource name")
	attach.MarkFlagRequired("resource")
	mi.AddCommand(system, micreate, attach)
	lifecycle(mi, "managedIdentity")
	cmd.AddCommand(res, mi)

	// directory roles
	var on bool
	ga := leaf("global-admin ID", "Grant (--on) or remove (--on=false) the Global Administrator role", cobra.ExactArgs(1), func(ctx context.Context, c *client.Client, args []string) (any, error) {
		var out any
		return out, c.Directory(ctx, "PATCH", tp(c, "/principals/"+url.PathEscape(args[0])), map[string]any{"globalAdministrator": on}, &out)
	})
	ga.Flags().BoolVar(&on, "on", true, "grant (true) or remove (false)")
	cmd.AddCommand(ga)
	return cmd
}

func readSecret(s *streams, v string) (string, error) {
	if v != "-" {
		return v, nil
	}
	// The whole line: secrets and passwords may hold spaces.
	line, err := bufio.NewReader(s.in).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", usageErr("reading from standard input: %v", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// selfSignedCertificate makes an RSA-2048 key and a one-year self-signed
// certificate for client-assertion sign-in.
func selfSignedCertificate(cn string) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
