package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Profile is a saved login: which server, pool and identity to use.
type Profile struct {
	// Server is the issuer's base URL, e.g. https://localhost:8443.
	Server string `json:"server"`
	Tenant string `json:"tenant,omitempty"`
	// HSMURL is the pool's URL and Audience the data plane's token audience.
	HSMURL   string `json:"hsmUrl,omitempty"`
	Audience string `json:"audience,omitempty"`
	CAFile   string `json:"caFile,omitempty"`
	// Service principals: a client secret, or a PEM file holding the
	// certificate and its private key.
	ClientID        string `json:"clientId,omitempty"`
	ClientSecret    string `json:"clientSecret,omitempty"`
	CertificateFile string `json:"certificateFile,omitempty"`
	// Users: the user name and, after login, the token (passwords are
	// never saved; log in again when it expires).
	Username           string    `json:"username,omitempty"`
	AccessToken        string    `json:"accessToken,omitempty"`
	AccessTokenExpires time.Time `json:"accessTokenExpires,omitempty"`

	password string
}

// WithPassword returns p with a password for the password grant (kept in
// memory only).
func (p Profile) WithPassword(pw string) Profile { p.password = pw; return p }

// ConfigDir is where profiles live: $COFFER_CONFIG_DIR, or
// $XDG_CONFIG_HOME/coffer, or ~/.config/coffer.
func ConfigDir() (string, error) {
	if d := os.Getenv("COFFER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "coffer"), nil
}

func profilePath() (string, error) {
	d, err := ConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "profile.json"), nil
}

// LoadProfile reads the saved profile.
func LoadProfile() (Profile, error) {
	var p Profile
	path, err := profilePath()
	if err != nil {
		return p, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, errors.New("not logged in: run coffer login")
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s is malformed: %w", path, err)
	}
	return p, nil
}

// SaveProfile writes the profile (mode 0600, directory 0700).
func SaveProfile(p Profile) error {
	path, err := profilePath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// DeleteProfile removes the saved profile.
func DeleteProfile() error {
	path, err := profilePath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
