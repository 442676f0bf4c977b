package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/config"
	"github.com/cofferkms/coffer/internal/crypto/sdformat"
	"github.com/cofferkms/coffer/internal/directory"
	"github.com/cofferkms/coffer/internal/hsm"
	"github.com/cofferkms/coffer/internal/mgmt"
)

// Bootstrap describes a development server to its clients: written to
// bootstrap.json in the data directory by `coffer serve --dev`.
type Bootstrap struct {
	TenantID        string `json:"tenantId"`
	ClientID        string `json:"clientId"`
	ClientSecret    string `json:"clientSecret"`
	ObjectID        string `json:"objectId"`
	AuthorityHost   string `json:"authorityHost"`
	HSMURL          string `json:"hsmUrl"`
	HSMURLByAddress string `json:"hsmUrlByAddress"`
	Audience        string `json:"audience"`
	CAFile          string `json:"caFile"`
	PoolName        string `json:"poolName"`
	DNSSuffix       string `json:"dnsSuffix"`
	DataDir         string `json:"dataDir"`
	// SecurityDomainFile and SecurityDomainKeys are the development
	// pool's security domain and its holders' private keys (each KEY.pem
	// with its certificate KEY.cer beside it); SecurityDomainQuorum of
	// them recover the pool.
	SecurityDomainFile   string   `json:"securityDomainFile,omitempty"`
	SecurityDomainKeys   []string `json:"securityDomainKeys,omitempty"`
	SecurityDomainQuorum int      `json:"securityDomainQuorum,omitempty"`
}

const devAdminName = "coffer-dev-admin"

// BootstrapFile is where the development bootstrap is written.
func (s *Server) BootstrapFile() string { return filepath.Join(s.cfg.DataDir, "bootstrap.json") }

// clientHost is the host clients on this machine use for the listener.
func (s *Server) clientHost() (host, port string) {
	h, p, _ := net.SplitHostPort(s.cfg.Listen)
	if ip := net.ParseIP(h); h == "" || (ip != nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		return "localhost", p
	}
	return h, p
}

func hostPort(h, p string) string {
	if p == "443" {
		return h
	}
	return net.JoinHostPort(h, p)
}

// bootstrapDev prepares a ready pool and an administrator that can use it,
// reusing both across restarts.
func (s *Server) bootstrapDev(ctx context.Context) error {
	abs, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return err
	}
	host, port := s.clientHost()
	addr := "127.0.0.1"
	if ip := net.ParseIP(host); ip != nil {
		addr = host
	}
	caFile, _ := filepath.Abs(s.CAFile())
	b := &Bootstrap{
		TenantID: s.tenant.ID, AuthorityHost: "https://" + hostPort(host, port),
		HSMURL:          "https://" + hostPort(s.cfg.DevPool+"."+s.cfg.DNSSuffix, port),
		HSMURLByAddress: "https://" + hostPort(addr, port),
		Audience:        s.cfg.Audience, CAFile: caFile, PoolName: s.cfg.DevPool, DNSSuffix: s.cfg.DNSSuffix, DataDir: abs,
	}
	// Reuse the administrator of an earlier run when its secret still works.
	if raw, err := os.ReadFile(s.BootstrapFile()); err == nil {
		var old Bootstrap
		if json.Unmarshal(raw, &old) == nil && old.TenantID == s.tenant.ID {
			if p, _, err := s.dir.AuthenticateSecret(s.tenant.ID, old.ClientID, old.ClientSecret); err == nil {
				b.ClientID, b.ClientSecret, b.ObjectID = old.ClientID, old.ClientSecret, p.ObjectID
			}
		}
	}
	if b.ClientID == "" {
		sp, err := s.dir.CreateServicePrincipal(ctx, s.tenant.ID, devAdminName)
		if err != nil {
			return fmt.Errorf("creating the development administrator: %w", err)
		}
		secret, _, err := s.dir.AddSecret(ctx, sp.ObjectID, nil)
		if err != nil {
			return fmt.Errorf("creating the development administrator's secret: %w", err)
		}
		b.ClientID, b.ClientSecret, b.ObjectID = sp.AppID, secret, sp.ObjectID
		// In development the administrator also manages the directory
		// (the directory API needs a Global Administrator).
		if err := s.dir.SetGlobalAdmin(ctx, sp.ObjectID, true); err != nil {
			return err
		}
	}
	pool, ok := s.registry.Get(s.cfg.DevPool)
	if !ok {
		if pool, err = s.registry.Create(ctx, mgmt.PoolInfo{Name: s.cfg.DevPool, InitialAdministrators: []string{b.ObjectID}}, hsm.StateActivationPending); err != nil {
			return err
		}
	}
	// Also after a start that stopped between creating and activating.
	if pool.State() == hsm.StateActivationPending {
		if err := s.activateDevPool(ctx, pool); err != nil {
			return err
		}
	}
	b.SecurityDomainFile, b.SecurityDomainKeys, b.SecurityDomainQuorum = devSecurityDomainFiles(abs)
	// The development administrator can do everything a pool offers: it
	// holds Administrator, Crypto Officer and Crypto User at "/".
	if err := pool.SeedAssignments(ctx, []string{b.ObjectID}, []string{hsm.RoleAdministrator, hsm.RoleCryptoOfficer, hsm.RoleCryptoUser}); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(b, "", "  ")
	if err := writeFileAtomic(s.BootstrapFile(), append(raw, '\n'), 0o600); err != nil {
		return err
	}
	s.boot = b
	s.log.Warn("development mode: pool ready, administrator credentials in bootstrap.json — do not use for real keys",
		slog.String("pool", s.cfg.DevPool), slog.String("bootstrap", s.BootstrapFile()))
	return nil
}

// bootstrapPools creates the configured pools on first start, and on an
// empty directory a Global Administrator service principal whose
// credentials are written (once, mode 0600) for the operator.
func (s *Server) bootstrapPools(ctx context.Context) error {
	if len(s.dir.List(s.tenant.ID, directory.KindServicePrincipal)) == 0 && len(s.dir.List(s.tenant.ID, directory.KindUser)) == 0 {
		sp, err := s.dir.CreateServicePrincipal(ctx, s.tenant.ID, "coffer-break-glass-admin")
		if err != nil {
			return err
		}
		secret, _, err := s.dir.AddSecret(ctx, sp.ObjectID, nil)
		if err != nil {
			return err
		}
		if err := s.dir.SetGlobalAdmin(ctx, sp.ObjectID, true); err != nil {
			return err
		}
		path := filepath.Join(s.cfg.DataDir, "admin-credentials.json")
		raw, _ := json.MarshalIndent(map[string]string{"tenantId": s.tenant.ID, "clientId": sp.AppID, "clientSecret": secret, "objectId": sp.ObjectID}, "", "  ")
		if err := writeFileAtomic(path, append(raw, '\n'), 0o600); err != nil {
			return err
		}
		s.log.Warn("created a Global Administrator service principal; store its credentials safely and delete the file",
			slog.String("file", path), slog.String("clientId", sp.AppID))
	}
	return s.createPools(ctx, s.cfg.Pools)
}

// createPools creates the configured pools that do not exist yet: at
// start, and when a reloaded configuration adds some. A pool is never
// removed or changed by the configuration once it exists.
func (s *Server) createPools(ctx context.Context, pools []config.Pool) error {
	for _, pc := range pools {
		if _, ok := s.registry.Get(pc.Name); ok {
			continue
		}
		state := hsm.StateActivationPending
		if pc.Recovery {
			state = hsm.StateSecurityDomainRestore
		}
		_, err := s.registry.Create(ctx, mgmt.PoolInfo{Name: pc.Name, RetentionDays: pc.RetentionDays, PurgeProtection: pc.PurgeProtection,
			InitialAdministrators: pc.Administrators, Recovery: pc.Recovery}, state)
		if err != nil && !errors.Is(err, mgmt.ErrPoolExists) {
			return err
		}
		if err == nil {
			s.log.Info("pool created", slog.String("pool", pc.Name), slog.String("state", state.String()))
		}
	}
	return nil
}

// devSDHolders and devSDQuorum shape the development pool's security domain.
const (
	devSDHolders = 3
	devSDQuorum  = 2
)

// devSecurityDomainFiles names the development pool's security-domain
// files, when they exist.
func devSecurityDomainFiles(dataDir string) (file string, keys []string, quorum int) {
	dir := filepath.Join(dataDir, "security-domain")
	file = filepath.Join(dir, "sd.json")
	if _, err := os.Stat(file); err != nil {
		return "", nil, 0
	}
	for i := range devSDHolders {
		keys = append(keys, filepath.Join(dir, fmt.Sprintf("cert_%d.pem", i)))
	}
	return file, keys, devSDQuorum
}

// activateDevPool downloads a new development pool's security domain
// for three generated key holders, quorum two, and keeps the file and
// the keys beside the pool's data: a developer can rehearse recovery
// without making keys first.
func (s *Server) activateDevPool(ctx context.Context, pool *hsm.Pool) error {
	dir := filepath.Join(s.cfg.DataDir, "security-domain")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var certs []sdformat.Certificate
	for i := range devSDHolders {
		base := filepath.Join(dir, fmt.Sprintf("cert_%d", i))
		certPEM, keyPEM, err := sdformat.GenerateWrappingKey(rand.Reader, 2048, fmt.Sprintf("development security domain holder %d", i), time.Now())
		if err != nil {
			return err
		}
		err = writeFileAtomic(base+".pem", keyPEM, 0o600)
		clear(keyPEM)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(base+".cer", certPEM, 0o644); err != nil {
			return err
		}
		blk, _ := pem.Decode(certPEM)
		c, err := sdformat.NewCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("development security domain: %w", err)
		}
		certs = append(certs, c)
	}
	file, err := pool.ActivateDevelopment(ctx, certs, devSDQuorum)
	if err != nil {
		return fmt.Errorf("activating the development pool: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "sd.json"), file, 0o600); err != nil {
		return fmt.Errorf("writing the development security domain: %w", err)
	}
	ev := &audit.Event{Time: time.Now().UTC(), Pool: s.cfg.DevPool, OperationName: "SecurityDomainBackup",
		Identity: &audit.Identity{ObjectID: "system"}, ResultType: audit.ResultSuccess, ResultSignature: "Accepted", HTTPStatusCode: 202,
		Detail: "development pool activated by the server: security domain and holders' keys written beside its data"}
	if err := s.audit.Append(ctx, ev); err != nil {
		return fmt.Errorf("recording the development pool's activation: %w", err)
	}
	s.log.Info("development pool activated; its security domain and holders' keys are beside its data", slog.String("dir", dir))
	return nil
}
