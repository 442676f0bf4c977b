// Command coffer is the Coffer key service and its command-line client.
package main

import (
	"os"

	"github.com/cofferkms/coffer/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
