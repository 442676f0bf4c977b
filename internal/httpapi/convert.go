package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/hsm"
)

// baseURL is the client-visible base of every identifier and link: the
// host the client used, so kid and nextLink work through any name or port.
func baseURL(r *http.Request) string { return "https://" + r.Host }

func keyID(r *http.Request, name, version string) string {
	id := baseURL(r) + "/keys/" + url.PathEscape(name)
	if version != "" {
		id += "/" + version
	}
	return id
}

func unix(t time.Time) *int64 { u := t.Unix(); return &u }

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return unix(*t)
}

func boolPtr(b bool) *bool { return &b }

func wireAttributes(a hsm.Attributes, recoverableDays int, recoveryLevel string) *api.KeyAttributes {
	out := &api.KeyAttributes{
		Enabled: boolPtr(a.Enabled), NotBefore: unixPtr(a.NotBefore), Expires: unixPtr(a.Expires),
		Created: unix(a.Created), Updated: unix(a.Updated), Exportable: boolPtr(a.Exportable),
		RecoveryLevel: recoveryLevel,
	}
	if recoverableDays > 0 {
		out.RecoverableDays = &recoverableDays
	}
	return out
}

func wireOps(ops []hsm.KeyOp) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
	}
	return out
}

func wireReleasePolicy(p *hsm.ReleasePolicy) *api.KeyReleasePolicy {
	if p == nil {
		return nil
	}
	return &api.KeyReleasePolicy{ContentType: p.ContentType, Immutable: boolPtr(p.Immutable), Data: p.Data}
}

func wireKeyBundle(r *http.Request, b *hsm.KeyBundle) *api.KeyBundle {
	k := &api.JSONWebKey{KeyID: keyID(r, b.Name, b.Version), Kty: b.Type.String(), KeyOps: wireOps(b.Ops)}
	switch b.Type {
	case hsm.KeyTypeRSA:
		k.N, k.E = b.Public.N, b.Public.E
	case hsm.KeyTypeEC:
		k.Crv, k.X, k.Y = b.Public.Curve.String(), b.Public.X, b.Public.Y
	}
	out := &api.KeyBundle{Key: k, Attributes: wireAttributes(b.Attributes, b.RecoverableDays, b.RecoveryLevel),
		ReleasePolicy: wireReleasePolicy(b.ReleasePolicy)}
	if len(b.Tags) > 0 {
		out.Tags = b.Tags
	}
	return out
}

func wireDeletedKey(r *http.Request, d *hsm.DeletedKey) *api.DeletedKeyBundle {
	return &api.DeletedKeyBundle{
		KeyBundle:   *wireKeyBundle(r, &d.KeyBundle),
		RecoveryID:  baseURL(r) + "/deletedkeys/" + url.PathEscape(d.Name),
		DeletedDate: unix(d.DeletedDate), ScheduledPurgeDate: unix(d.ScheduledPurgeDate),
	}
}

func wireKeyItem(r *http.Request, it hsm.KeyItem) api.KeyItem {
	out := api.KeyItem{KeyID: keyID(r, it.Name, it.Version), Attributes: wireAttributes(it.Attributes, it.RecoverableDays, it.RecoveryLevel)}
	if len(it.Tags) > 0 {
		out.Tags = it.Tags
	}
	return out
}

// nextLink builds the absolute link to the following page; Go clients follow
// it verbatim, so it carries api-version.
func nextLink(r *http.Request, next string, maxResults int) *string {
	if next == "" {
		return nil
	}
	q := url.Values{}
	q.Set("api-version", apiVersionFrom(r))
	q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(next)))
	if maxResults > 0 {
		q.Set("maxresults", strconv.Itoa(maxResults))
	}
	link := baseURL(r) + r.URL.EscapedPath() + "?" + q.Encode()
	return &link
}

// pageRequest reads maxresults (1–25) and $skiptoken.
func pageRequest(r *http.Request) (hsm.PageRequest, int, error) {
	q := r.URL.Query()
	var pr hsm.PageRequest
	max := 0
	if s := q.Get("maxresults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > hsm.MaxPageSize {
			return pr, 0, badRequest("maxresults must be an integer from 1 to %d.", hsm.MaxPageSize)
		}
		max, pr.Max = n, n
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return pr, 0, badRequest("The $skiptoken is not valid.")
		}
		pr.After = string(b)
	}
	return pr, max, nil
}

// attributesUpdate converts request attributes; read-only fields are ignored.
func attributesUpdate(a *api.KeyAttributes) hsm.AttributesUpdate {
	var u hsm.AttributesUpdate
	if a == nil {
		return u
	}
	u.Enabled, u.Exportable = a.Enabled, a.Exportable
	if a.NotBefore != nil {
		t := time.Unix(*a.NotBefore, 0).UTC()
		u.NotBefore = &t
	}
	if a.Expires != nil {
		t := time.Unix(*a.Expires, 0).UTC()
		u.Expires = &t
	}
	return u
}

// releasePolicy validates a request's release policy: its data must be a
// JSON document (the policy grammar is checked when a key is released).
func releasePolicy(p *api.KeyReleasePolicy) (*hsm.ReleasePolicy, error) {
	if p == nil {
		return nil, nil
	}
	if len(p.Data) == 0 || !json.Valid(p.Data) {
		return nil, badRequest("release_policy.data must be base64url-encoded JSON.")
	}
	out := &hsm.ReleasePolicy{ContentType: p.ContentType, Data: p.Data}
	if out.ContentType == "" {
		out.ContentType = "application/json; charset=utf-8"
	}
	if p.Immutable != nil {
		out.Immutable = *p.Immutable
	}
	return out, nil
}

func keyOps(ss []string) ([]hsm.KeyOp, bool, error) {
	if ss == nil {
		return nil, false, nil
	}
	ops, err := hsm.ParseKeyOps(ss)
	return ops, true, err
}
