package hsm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cofferkms/coffer/internal/audit"
	"github.com/cofferkms/coffer/internal/authz"
	"github.com/cofferkms/coffer/internal/store"
)

const pathSettings = "settings/"

// SettingAllowARM opts the pool into key management through Azure Resource
// Manager. It is the only setting Managed HSM defines.
const SettingAllowARM = "AllowKeyManagementOperationsThroughARM"

// Setting is one pool setting. Values are strings; Type is "boolean".
type Setting struct {
	Name, Value, Type string
}

func defaultSettings() map[string]string {
	return map[string]string{SettingAllowARM: "false"}
}

func loadSettings(tx store.Tx, into map[string]string) error {
	return tx.ForEach(pathSettings, func(path string, v []byte) error {
		var s struct {
			V     int    `json:"v"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		name := strings.TrimPrefix(path, pathSettings)
		if _, known := into[name]; known {
			into[name] = s.Value
		}
		return nil
	})
}

func settingNotFound(name string) *Error {
	return &Error{Kind: KindNotFound, Code: "SettingNotFound", Message: fmt.Sprintf("Setting %q not found.", safeName(name))}
}

// canonicalSetting matches a setting name case-insensitively.
func (p *Pool) canonicalSetting(name string) (string, string, bool) {
	for k, v := range *p.settings.Load() {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", "", false
}

// ListSettings returns every setting.
func (p *Pool) ListSettings(ctx context.Context, c *Caller) ([]Setting, error) {
	if err := p.authorize(ctx, c, authz.SettingsRead, authz.RootScope); err != nil {
		return nil, err
	}
	m := *p.settings.Load()
	var out []Setting
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Setting{Name: k, Value: m[k], Type: "boolean"})
	}
	return out, nil
}

// GetSetting returns one setting.
func (p *Pool) GetSetting(ctx context.Context, c *Caller, name string) (*Setting, error) {
	audit.FromContext(ctx).TargetID = name
	if err := p.authorize(ctx, c, authz.SettingsRead, authz.RootScope); err != nil {
		return nil, err
	}
	k, v, ok := p.canonicalSetting(name)
	if !ok {
		return nil, settingNotFound(name)
	}
	return &Setting{Name: k, Value: v, Type: "boolean"}, nil
}

// UpdateSetting sets a boolean setting to "true" or "false" (exactly: the
// values are case-sensitive strings, as in Managed HSM).
func (p *Pool) UpdateSetting(ctx context.Context, c *Caller, name, value string) (*Setting, error) {
	ev := audit.FromContext(ctx)
	ev.TargetID = name
	if err := p.authorize(ctx, c, authz.SettingsWrite, authz.RootScope); err != nil {
		return nil, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	k, old, ok := p.canonicalSetting(name)
	if !ok {
		return nil, settingNotFound(name)
	}
	if value != "true" && value != "false" {
		return nil, badParameter("The value of setting %s must be the string \"true\" or \"false\".", k)
	}
	ev.Detail = fmt.Sprintf("%s: %s -> %s", k, old, value)
	b, err := json.Marshal(map[string]any{"v": recordVersion, "value": value})
	if err != nil {
		return nil, err
	}
	next := maps.Clone(*p.settings.Load())
	next[k] = value
	err = p.update(ctx, func(tx store.Tx) error { return tx.Put(pathSettings+k, b) }, func() { p.settings.Store(&next) })
	if err != nil {
		return nil, err
	}
	return &Setting{Name: k, Value: value, Type: "boolean"}, nil
}
