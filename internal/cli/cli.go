// Package cli implements the coffer command: `coffer serve` runs the
// server, and the other command groups are clients of a running server in
// the spirit of `az keyvault` (keys, roles, settings, security domain,
// backup, directory, audit).
//
// Output is JSON by default, like az; -o table and -o tsv are available,
// and --query applies a JMESPath expression, as az's does.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit statuses, documented in `coffer --help`.
const (
	exitOK        = 0
	exitError1    = 1 // the operation failed
	exitUsage     = 2 // bad command line
	exitAuth      = 3 // not logged in or not authorised
	exitUnhealthy = 4 // server or audit log unhealthy
)

type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs the coffer command with args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &streams{in: stdin, out: stdout, err: stderr}
	root := newRoot(s)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "coffer:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitError1
}

func newRoot(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "coffer",
		Short: "Coffer: a self-hosted key service that speaks Azure Managed HSM",
		Long: `Coffer is a key management service with the REST API and semantics of Azure Key Vault
Managed HSM: keys and cryptography, local RBAC, security domain, full backup, audit.

Run the server with "coffer serve" (add --dev for a ready local pool), then use the
official Azure SDKs, the Azure CLI, or the client commands below.

Exit status: 0 success, 1 the operation failed, 2 bad usage, 3 authentication or
authorization failure, 4 server or audit log unhealthy.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newServeCommand(s), newLoginCommand(s), newLogoutCommand(), newTokenCommand(s), newDirectoryCommand(s),
		newRoleCommand(s), newSettingCommand(s), newAuditCommand(s), newBackupCommand(s), newRestoreCommand(s),
		newSecurityDomainCommand(s), newBenchCommand(s))
	return root
}
