package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/spf13/cobra"
)

// job is a backup or restore operation's status as the API returns it.
type job struct {
	Status        string  `json:"status"`
	StatusDetails *string `json:"statusDetails"`
	Error         *struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
	} `json:"error"`
	StartTime int64  `json:"startTime"`
	EndTime   *int64 `json:"endTime"`
	JobID     string `json:"jobId"`
	// FolderURL is the backup folder's URL, as az prints it.
	FolderURL *string `json:"azureStorageBlobContainerUri,omitempty"`
}

// storageFlags are the storage parameters of backup and restore commands.
type storageFlags struct {
	containerURL, sasToken, sasTokenFile string
	managedIdentity, noWait              bool
}

func (f *storageFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.containerURL, "container-url", "", "blob container URL (https://<account>.blob.core.windows.net/<container>), or file:///<dir> for a directory the server allows")
	c.Flags().StringVar(&f.sasToken, "sas-token", "", "SAS token for the container (without the leading ?); - reads standard input")
	c.Flags().StringVar(&f.sasTokenFile, "sas-token-file", "", "read the SAS token from this file")
	c.Flags().BoolVar(&f.managedIdentity, "use-managed-identity", false, "use the server's managed identity for storage (not supported by Coffer; Azure's flag)")
	c.Flags().BoolVar(&f.noWait, "no-wait", false, "start the job and print it without waiting for it to finish")
	c.MarkFlagRequired("container-url")
}

func (f *storageFlags) params(s *streams) (map[string]any, error) {
	tok := f.sasToken
	switch {
	case f.sasTokenFile != "":
		b, err := os.ReadFile(f.sasTokenFile)
		if err != nil {
			return nil, usageErr("--sas-token-file: %v", err)
		}
		tok = strings.TrimSpace(string(b))
	case tok == "-":
		var err error
		if tok, err = readSecret(s, "-"); err != nil {
			return nil, err
		}
	}
	return map[string]any{"storageResourceUri": f.containerURL, "token": strings.TrimPrefix(tok, "?"), "useManagedIdentity": f.managedIdentity}, nil
}

// waitJob polls a job until it ends, printing progress to stderr.
func waitJob(ctx context.Context, c *client.Client, s *streams, kind string, j job) (job, error) {
	start := time.Now()
	for j.Status == "InProgress" {
		fmt.Fprintf(s.err, "%s %s: %s (%ds)\n", kind, j.JobID, j.Status, int(time.Since(start).Seconds()))
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		if err := c.Data(ctx, "GET", "/"+kind+"/"+url.PathEscape(j.JobID)+"/pending", nil, nil, &j); err != nil {
			return j, err
		}
	}
	if j.Status != "Succeeded" {
		msg := j.Status
		if j.Error != nil && j.Error.Message != nil {
			msg += ": " + *j.Error.Message
		} else if j.StatusDetails != nil {
			msg += ": " + *j.StatusDetails
		}
		return j, fmt.Errorf("%s %s %s", kind, j.JobID, msg)
	}
	fmt.Fprintf(s.err, "%s %s: %s in %ds\n", kind, j.JobID, j.Status, int(time.Since(start).Seconds()))
	return j, nil
}

func newBackupCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "backup", Short: "Full backups of a pool (keys, versions, roles, settings)"}
	o.register(cmd)
	var sf storageFlags
	var pre bool
	start := &cobra.Command{Use: "start", Short: "Back up the whole pool to a blob container or directory", Args: cobra.NoArgs,
		Long: `Write a full backup of the pool — every key with every version, attribute and tag, every
role definition and assignment, and the settings — into a new folder of a blob container,
encrypted under keys derived from the pool's security domain: it restores only into a
pool holding the same security domain. Prints the job, with the folder's URL.`,
		Example: `  coffer backup start --container-url https://acct.blob.core.windows.net/backups --sas-token-file sas.txt
  coffer backup start --container-url file:///var/backups/coffer`,
		RunE: func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				body, err := sf.params(s)
				if err != nil {
					return nil, err
				}
				path := "/backup"
				if pre {
					path = "/prebackup"
				}
				var j job
				if err := c.Data(ctx, "POST", path, nil, body, &j); err != nil {
					return nil, err
				}
				if sf.noWait {
					return j, nil
				}
				return waitJob(ctx, c, s, "backup", j)
			})(cc, args)
		}}
	sf.register(start)
	start.Flags().BoolVar(&pre, "check-only", false, "only check the backup could run (POST /prebackup)")
	status := &cobra.Command{Use: "status JOB_ID", Short: "Show a backup job", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				var j job
				return j, c.Data(ctx, "GET", "/backup/"+url.PathEscape(args[0])+"/pending", nil, nil, &j)
			})(cc, args)
		}}
	cmd.AddCommand(start, status)
	return cmd
}

func newRestoreCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "restore", Short: "Restore a pool, or one key, from a full backup"}
	o.register(cmd)
	var sf storageFlags
	var folder, key string
	var pre bool
	start := &cobra.Command{Use: "start", Short: "Restore from a backup folder", Args: cobra.NoArgs,
		Long: `Restore the whole pool from a full backup folder, replacing every key, role definition,
role assignment and setting at once; or, with --key, restore one key with all its versions
(the key must not exist: purge it first). The pool must hold the security domain of the
pool that made the backup.`,
		Example: `  coffer restore start --container-url https://acct.blob.core.windows.net/backups --sas-token-file sas.txt --folder mhsm-dev-20261122120000123
  coffer restore start --container-url file:///var/backups/coffer --folder mhsm-dev-20261122120000123 --key payroll`,
		RunE: func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				sp, err := sf.params(s)
				if err != nil {
					return nil, err
				}
				if i := strings.LastIndex(folder, "/"); i >= 0 {
					folder = folder[i+1:] // a full folder URL, as backup start prints it
				}
				method, path, body := "PUT", "/restore", map[string]any{"sasTokenParameters": sp, "folderToRestore": folder}
				switch {
				case key != "":
					path, body = "/keys/"+url.PathEscape(key)+"/restore", map[string]any{"sasTokenParameters": sp, "folder": folder}
				case pre:
					path = "/prerestore"
				}
				var j job
				if err := c.Data(ctx, method, path, nil, body, &j); err != nil {
					return nil, err
				}
				if sf.noWait {
					return j, nil
				}
				return waitJob(ctx, c, s, "restore", j)
			})(cc, args)
		}}
	sf.register(start)
	start.Flags().StringVar(&folder, "folder", "", "backup folder name (or its URL)")
	start.Flags().StringVar(&key, "key", "", "restore only this key (selective restore)")
	start.Flags().BoolVar(&pre, "check-only", false, "only check the restore could run (PUT /prerestore)")
	start.MarkFlagRequired("folder")
	status := &cobra.Command{Use: "status JOB_ID", Short: "Show a restore job", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				var j job
				return j, c.Data(ctx, "GET", "/restore/"+url.PathEscape(args[0])+"/pending", nil, nil, &j)
			})(cc, args)
		}}
	cmd.AddCommand(start, status)
	return cmd
}
