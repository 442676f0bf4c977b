package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferkms/coffer/internal/client"
	"github.com/cofferkms/coffer/internal/crypto/sdformat"
	"github.com/spf13/cobra"
)

// sdStatus is a security-domain operation's status as the API returns it.
type sdStatus struct {
	Status        string `json:"status"`
	StatusDetails string `json:"status_details"`
}

func newSecurityDomainCommand(s *streams) *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "securitydomain", Aliases: []string{"security-domain"},
		Short: "Activate a pool by downloading its security domain; recover a pool by uploading one",
		Long: `A pool's security domain is its domain key, split among 3 to 10 key holders: a quorum of
them, and nobody else, can bring every key of the pool into a new pool after a disaster.
A new pool refuses every operation until an administrator downloads its security domain.

The files are Azure Key Vault Managed HSM's: the Azure CLI reads and writes them too.`}
	o.register(cmd)
	cmd.AddCommand(newSDKeygenCommand(s), newSDDownloadCommand(s, o), newSDInitRecoveryCommand(s, o),
		newSDUploadCommand(s, o), newSDRestoreBlobCommand(s), newSDStatusCommand(s, o))
	return cmd
}

func newSDKeygenCommand(s *streams) *cobra.Command {
	var dir, prefix string
	var count, bits int
	c := &cobra.Command{Use: "keygen", Short: "Make key holders' wrapping key pairs", Args: cobra.NoArgs,
		Long: `Make RSA key pairs with self-signed certificates for the holders of a security domain:
NAME.pem is the private key (mode 0600: give it to its holder, and nobody else) and NAME.cer
the certificate to download the security domain with. In production each holder makes their
own, on their own machine, and hands over only the certificate.`,
		Example: `  coffer securitydomain keygen --count 3 --out-dir sd-keys`,
		RunE: func(cc *cobra.Command, args []string) error {
			if count < 1 || count > 10 {
				return usageErr("--count must be between 1 and 10")
			}
			if bits < 2048 {
				return usageErr("--bits must be at least 2048")
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			for i := range count {
				base := filepath.Join(dir, fmt.Sprintf("%s%d", prefix, i))
				certPEM, keyPEM, err := sdformat.GenerateWrappingKey(rand.Reader, bits, fmt.Sprintf("security domain key holder %d", i), time.Now())
				if err != nil {
					return err
				}
				if err := writeNew(base+".pem", keyPEM, 0o600); err != nil {
					clear(keyPEM)
					return err
				}
				clear(keyPEM)
				if err := writeNew(base+".cer", certPEM, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(s.out, "%s.pem %s.cer\n", base, base)
			}
			return nil
		}}
	c.Flags().StringVar(&dir, "out-dir", ".", "directory to write the key pairs to")
	c.Flags().StringVar(&prefix, "prefix", "cert_", "file name prefix")
	c.Flags().IntVar(&count, "count", 3, "number of key pairs")
	c.Flags().IntVar(&bits, "bits", 3072, "RSA key size (2048 or more)")
	return c
}

func newSDDownloadCommand(s *streams, o *clientOptions) *cobra.Command {
	var certs []string
	var quorum int
	var file string
	var noWait bool
	c := &cobra.Command{Use: "download", Short: "Download the security domain, which activates the pool", Args: cobra.NoArgs,
		Long: `Split the pool's security domain among the certificates' holders and write the file. A pool's
security domain can be downloaded once, and downloading it activates the pool. Keep the file
and give each private key to its holder: any --quorum of them can recover the pool.`,
		Example: `  coffer securitydomain download --certs cert_0.cer cert_1.cer cert_2.cer --quorum 2 --file sd.json`,
		RunE: func(cc *cobra.Command, args []string) error {
			if len(certs) < 3 || len(certs) > 10 {
				return usageErr("The number of wrapping keys (N) should be in range [3, 10].")
			}
			if quorum < 2 || quorum > 10 {
				return usageErr("The quorum of security domain (M) should be in range [2, 10].")
			}
			if _, err := os.Stat(file); err == nil {
				return usageErr("%s exists: a security-domain file is never overwritten", file)
			}
			var jwks []json.RawMessage
			for _, path := range certs {
				der, err := readCertificate(path)
				if err != nil {
					return usageErr("%s: %v", path, err)
				}
				jwk, err := sdformat.CertificateJWK(der)
				if err != nil {
					return usageErr("%s: %v", path, err)
				}
				jwks = append(jwks, jwk)
			}
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				var out struct {
					Value string `json:"value"`
				}
				body := map[string]any{"certificates": jwks, "required": quorum}
				if err := c.Data(ctx, "POST", "/securitydomain/download", nil, body, &out); err != nil {
					return nil, err
				}
				// Write the file before anything else: it is the only copy.
				if err := writeNew(file, []byte(out.Value), 0o600); err != nil {
					return nil, fmt.Errorf("the security domain was downloaded but could not be saved: %w", err)
				}
				fmt.Fprintf(s.err, "security domain written to %s\n", file)
				if noWait {
					return nil, nil
				}
				return waitSD(ctx, c, s, "download")
			})(cc, args)
		}}
	c.Flags().StringSliceVar(&certs, "certs", nil, "3 to 10 certificates (PEM or DER) of the key holders")
	c.Flags().IntVar(&quorum, "quorum", 2, "how many key holders it takes to recover (2 to 10, at most the number of certificates)")
	c.Flags().StringVar(&file, "file", "", "where to write the security-domain file (must not exist)")
	c.Flags().BoolVar(&noWait, "no-wait", false, "do not wait for the operation's status")
	c.MarkFlagRequired("certs")
	c.MarkFlagRequired("file")
	return c
}

func newSDInitRecoveryCommand(s *streams, o *clientOptions) *cobra.Command {
	var out string
	c := &cobra.Command{Use: "init-recovery", Short: "Save a recovering pool's exchange (transfer) key", Args: cobra.NoArgs,
		Long: `Save the certificate of the key a pool created for recovery receives the security domain
under. restore-blob builds the upload for it offline; upload fetches it itself.`,
		Example: `  coffer securitydomain init-recovery --exchange-key exchange.cer`,
		RunE: o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
			der, err := fetchExchangeCert(ctx, c)
			if err != nil {
				return nil, err
			}
			if err := writeNew(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
				return nil, err
			}
			fmt.Fprintf(s.err, "exchange key certificate written to %s\n", out)
			return nil, nil
		})}
	c.Flags().StringVar(&out, "exchange-key", "", "where to write the exchange key's certificate (PEM)")
	c.MarkFlagRequired("exchange-key")
	return c
}

// recoveryFlags name the security-domain file and the quorum's keys.
type recoveryFlags struct {
	file string
	keys []string
}

func (f *recoveryFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.file, "file", "", "the security-domain file")
	c.Flags().StringSliceVar(&f.keys, "keys", nil, "private keys of the quorum (PEM); each KEY.pem needs its certificate beside it as KEY.cer")
	c.MarkFlagRequired("file")
	c.MarkFlagRequired("keys")
}

// restoreBlob does locally what the Azure CLI does: open the quorum's
// shares, rebuild the domain's master key and re-encrypt the domain for
// the recovering pool's exchange key. Private keys never leave this
// process.
func (f *recoveryFlags) restoreBlob(exchangeDER []byte) ([]byte, error) {
	file, err := os.ReadFile(f.file)
	if err != nil {
		return nil, usageErr("--file: %v", err)
	}
	var wks []sdformat.WrappingKey
	for _, k := range f.keys {
		wk, err := loadWrappingKey(k)
		if err != nil {
			return nil, usageErr("%s: %v", k, err)
		}
		wks = append(wks, wk)
	}
	master, data, err := sdformat.Recover(file, wks)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", f.file, err)
	}
	clear(master)
	defer func() {
		for _, d := range data {
			clear(d.Plaintext)
		}
	}()
	return sdformat.BuildRestoreBlob(rand.Reader, data, exchangeDER)
}

func newSDUploadCommand(s *streams, o *clientOptions) *cobra.Command {
	var rf recoveryFlags
	var blobFile string
	var noWait bool
	c := &cobra.Command{Use: "upload", Short: "Recover a pool from a security-domain file and a quorum of keys", Args: cobra.NoArgs,
		Long: `Upload the security domain of a lost pool into a pool created for recovery: decrypt the
quorum's shares with their private keys (locally), rebuild the domain and send it encrypted
to the new pool's exchange key. The pool then holds the old pool's domain key and can
restore its full backups. With --restore-blob, upload a blob built offline by restore-blob
(or by az keyvault security-domain restore-blob) instead.`,
		Example: `  coffer securitydomain upload --file sd.json --keys cert_0.pem --keys cert_2.pem
  coffer securitydomain upload --restore-blob blob.json`,
		RunE: func(cc *cobra.Command, args []string) error {
			if blobFile == "" && (rf.file == "" || len(rf.keys) == 0) {
				return usageErr("pass --file and --keys, or --restore-blob")
			}
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				var blob []byte
				if blobFile != "" {
					b, err := os.ReadFile(blobFile)
					if err != nil {
						return nil, usageErr("--restore-blob: %v", err)
					}
					blob = b
				} else {
					der, err := fetchExchangeCert(ctx, c)
					if err != nil {
						return nil, err
					}
					if blob, err = rf.restoreBlob(der); err != nil {
						return nil, err
					}
				}
				var st sdStatus
				if err := c.Data(ctx, "POST", "/securitydomain/upload", nil, map[string]string{"value": string(blob)}, &st); err != nil {
					return nil, err
				}
				if noWait {
					return st, nil
				}
				return waitSD(ctx, c, s, "upload")
			})(cc, args)
		}}
	c.Flags().StringVar(&rf.file, "file", "", "the security-domain file")
	c.Flags().StringSliceVar(&rf.keys, "keys", nil, "private keys of the quorum (PEM); each KEY.pem needs its certificate beside it as KEY.cer")
	c.Flags().StringVar(&blobFile, "restore-blob", "", "upload this restore blob instead of building one")
	c.Flags().BoolVar(&noWait, "no-wait", false, "do not wait for the operation's status")
	return c
}

func newSDRestoreBlobCommand(s *streams) *cobra.Command {
	var rf recoveryFlags
	var exchange, out string
	c := &cobra.Command{Use: "restore-blob", Short: "Build the upload for an exchange key offline", Args: cobra.NoArgs,
		Long: `Build, without contacting the server, the restore blob that upload --restore-blob sends:
for key holders who keep their private keys on a machine without network access.`,
		Example: `  coffer securitydomain restore-blob --file sd.json --keys cert_0.pem --keys cert_1.pem --exchange-key exchange.cer --out blob.json`,
		RunE: func(cc *cobra.Command, args []string) error {
			der, err := readCertificate(exchange)
			if err != nil {
				return usageErr("--exchange-key: %v", err)
			}
			blob, err := rf.restoreBlob(der)
			if err != nil {
				return err
			}
			if err := writeNew(out, blob, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "restore blob written to %s\n", out)
			return nil
		}}
	rf.register(c)
	c.Flags().StringVar(&exchange, "exchange-key", "", "the recovering pool's exchange key certificate (from init-recovery)")
	c.Flags().StringVar(&out, "out", "", "where to write the restore blob (must not exist)")
	c.MarkFlagRequired("exchange-key")
	c.MarkFlagRequired("out")
	return c
}

func newSDStatusCommand(s *streams, o *clientOptions) *cobra.Command {
	var upload bool
	c := &cobra.Command{Use: "status", Short: "Show the last security-domain download or upload", Args: cobra.NoArgs,
		RunE: func(cc *cobra.Command, args []string) error {
			return o.run(s, func(ctx context.Context, c *client.Client) (any, error) {
				path := "/securitydomain/download/pending"
				if upload {
					path = "/securitydomain/upload/pending"
				}
				var st sdStatus
				return st, c.Data(ctx, "GET", path, nil, nil, &st)
			})(cc, args)
		}}
	c.Flags().BoolVar(&upload, "upload", false, "ask the upload status endpoint (needs the upload read permission)")
	return c
}

// waitSD polls a security-domain operation until it ends.
func waitSD(ctx context.Context, c *client.Client, s *streams, op string) (sdStatus, error) {
	var st sdStatus
	for {
		if err := c.Data(ctx, "GET", "/securitydomain/"+op+"/pending", nil, nil, &st); err != nil {
			return st, err
		}
		switch strings.ToLower(st.Status) {
		case "success", "succeeded":
			return st, nil
		case "failed":
			return st, fmt.Errorf("security domain %s failed: %s", op, st.StatusDetails)
		}
		fmt.Fprintf(s.err, "security domain %s: %s\n", op, st.Status)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// fetchExchangeCert gets a recovering pool's exchange key certificate.
func fetchExchangeCert(ctx context.Context, c *client.Client) ([]byte, error) {
	var tk struct {
		TransferKey string `json:"transfer_key"`
	}
	if err := c.Data(ctx, "GET", "/securitydomain/upload", nil, nil, &tk); err != nil {
		return nil, err
	}
	var jwk struct {
		X5c []string `json:"x5c"`
	}
	if err := json.Unmarshal([]byte(tk.TransferKey), &jwk); err != nil || len(jwk.X5c) == 0 {
		return nil, errors.New("the server's transfer key has no certificate (x5c)")
	}
	der, err := base64.StdEncoding.DecodeString(jwk.X5c[0])
	if err != nil {
		return nil, errors.New("the server's transfer key certificate is not valid base64")
	}
	return der, nil
}

// readCertificate reads a certificate in PEM or DER.
func readCertificate(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a PEM %q block, not a CERTIFICATE", blk.Type)
		}
		return blk.Bytes, nil
	}
	return b, nil
}

// loadWrappingKey loads KEY.pem and the certificate beside it, KEY.cer,
// as the Azure CLI does.
func loadWrappingKey(keyPath string) (sdformat.WrappingKey, error) {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return sdformat.WrappingKey{}, err
	}
	defer clear(keyPEM)
	cert, err := os.ReadFile(strings.TrimSuffix(keyPath, filepath.Ext(keyPath)) + ".cer")
	if err != nil {
		return sdformat.WrappingKey{}, fmt.Errorf("its certificate: %w", err)
	}
	return sdformat.LoadWrappingKey(cert, keyPEM) // PEM or DER
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
