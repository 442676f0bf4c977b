package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidateDerivesAudience(t *testing.T) {
	tests := []struct {
		listen, suffix, want string
	}{
		{"127.0.0.1:8443", "mhsm.localhost", "https://mhsm.localhost:8443"},
		{":443", "managedhsm.azure.net", "https://managedhsm.azure.net"},
		{"0.0.0.0:9000", "Kms.Example.COM.", "https://kms.example.com:9000"},
	}
	for _, tc := range tests {
		c := Default()
		c.Listen, c.DNSSuffix = tc.listen, tc.suffix
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate(%s, %s) error = %v", tc.listen, tc.suffix, err)
		}
		if c.Audience != tc.want {
			t.Errorf("Validate(%s, %s) audience = %q, want %q", tc.listen, tc.suffix, c.Audience, tc.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad listen", func(c *Config) { c.Listen = "nope" }, "listen"},
		{"bad suffix", func(c *Config) { c.DNSSuffix = "bad_suffix" }, "dnsSuffix"},
		{"http audience", func(c *Config) { c.Audience = "http://x" }, "audience"},
		{"audience with comma", func(c *Config) { c.Audience = "https://a,b" }, "audience"},
		{"tenant", func(c *Config) { c.ChallengeTenant = "common" }, "challengeTenant"},
		{"short tokens", func(c *Config) { c.TokenLifetime = Duration{time.Second} }, "tokenLifetime"},
		{"pool name", func(c *Config) { c.Pools = []Pool{{Name: "UPPER"}} }, "pool name"},
		{"duplicate pool", func(c *Config) { c.Pools = []Pool{{Name: "abc"}, {Name: "abc"}} }, "twice"},
		{"retention", func(c *Config) { c.Pools = []Pool{{Name: "abc", RetentionDays: 3}} }, "retentionDays"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"dev pool", func(c *Config) { c.Dev, c.DevPool = true, "x" }, "dev pool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadRejectsUnknownFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(p, []byte(`{"listen":":9443","dataDirectory":"x"}`), 0o600)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "dataDirectory") {
		t.Errorf("Load() error = %v, want unknown field error", err)
	}
	os.WriteFile(p, []byte(`{"listen":":9443","tokenLifetime":"30m","pools":[{"name":"prod-1","retentionDays":30}]}`), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9443" || c.TokenLifetime.Duration != 30*time.Minute || c.DataDir != "coffer-data" || c.Pools[0].RetentionDays != 30 {
		t.Errorf("Load() = %+v", c)
	}
}
