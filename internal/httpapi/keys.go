package httpapi

import (
	"net/http"
	"strings"

	"github.com/cofferkms/coffer/internal/api"
	"github.com/cofferkms/coffer/internal/hsm"
)

func keyName(r *http.Request) (hsm.KeyName, error) { return hsm.ParseKeyName(r.PathValue("name")) }

func keyRef(r *http.Request) (hsm.KeyRef, error) {
	return hsm.ParseKeyRef(r.PathValue("name"), r.PathValue("version"))
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	var body api.KeyCreateParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	in := hsm.CreateKeyInput{Tags: body.Tags, Attributes: attributesUpdate(body.Attributes)}
	if in.Type, err = hsm.ParseKeyType(body.Kty); err != nil {
		return badRequest("The key type (kty) %q is not valid; use RSA-HSM, EC-HSM or oct-HSM.", truncate(body.Kty, 32))
	}
	if body.KeySize != nil {
		in.Size = *body.KeySize
	}
	if body.PublicExponent != nil {
		in.PublicExponent = *body.PublicExponent
	}
	if body.Crv != "" {
		if in.Curve, err = hsm.ParseCurve(body.Crv); err != nil {
			return badRequest("The curve (crv) %q is not valid; use P-256, P-256K, P-384 or P-521.", truncate(body.Crv, 32))
		}
	}
	if in.Ops, in.OpsSet, err = keyOps(body.KeyOps); err != nil {
		return err
	}
	if in.ReleasePolicy, err = releasePolicy(body.ReleasePolicy); err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).CreateKey(r.Context(), callerFrom(r.Context()), name, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) importKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	var body api.KeyImportParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Key == nil {
		return badRequest("The key (key) to import is required.")
	}
	k := body.Key
	in := hsm.ImportKeyInput{Tags: body.Tags, Attributes: attributesUpdate(body.Attributes), KeyHSM: k.KeyHSM}
	if in.Type, err = hsm.ParseKeyType(k.Kty); err != nil {
		return badRequest("The key type (kty) %q is not valid; use RSA, EC or oct (or their -HSM forms).", truncate(k.Kty, 32))
	}
	if k.Crv != "" {
		if in.Curve, err = hsm.ParseCurve(k.Crv); err != nil {
			return badRequest("The curve (crv) %q is not valid; use P-256, P-256K, P-384 or P-521.", truncate(k.Crv, 32))
		}
	}
	in.JWK = hsm.JWK{Kty: k.Kty, Crv: k.Crv, N: k.N, E: k.E, D: k.D, DP: k.DP, DQ: k.DQ, QI: k.QI, P: k.P, Q: k.Q, K: k.K, X: k.X, Y: k.Y}
	if in.Ops, in.OpsSet, err = keyOps(k.KeyOps); err != nil {
		return err
	}
	if in.ReleasePolicy, err = releasePolicy(body.ReleasePolicy); err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).ImportKey(r.Context(), callerFrom(r.Context()), name, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).GetKey(r.Context(), callerFrom(r.Context()), ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	var body api.KeyUpdateParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	in := hsm.UpdateKeyInput{Attributes: attributesUpdate(body.Attributes), Tags: body.Tags, TagsSet: body.Tags != nil}
	if in.Ops, in.OpsSet, err = keyOps(body.KeyOps); err != nil {
		return err
	}
	if in.ReleasePolicy, err = releasePolicy(body.ReleasePolicy); err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).UpdateKey(r.Context(), callerFrom(r.Context()), ref, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	d, err := poolFrom(r.Context()).DeleteKey(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireDeletedKey(r, d))
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	pr, max, err := pageRequest(r)
	if err != nil {
		return err
	}
	page, err := poolFrom(r.Context()).ListKeys(r.Context(), callerFrom(r.Context()), pr)
	if err != nil {
		return err
	}
	out := api.KeyListResult{Value: make([]api.KeyItem, 0, len(page.Items)), NextLink: nextLink(r, page.Next, max)}
	for _, it := range page.Items {
		out.Value = append(out.Value, wireKeyItem(r, it))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listKeyVersions(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	pr, max, err := pageRequest(r)
	if err != nil {
		return err
	}
	page, err := poolFrom(r.Context()).ListKeyVersions(r.Context(), callerFrom(r.Context()), name, pr)
	if err != nil {
		return err
	}
	out := api.KeyListResult{Value: make([]api.KeyItem, 0, len(page.Items)), NextLink: nextLink(r, page.Next, max)}
	for _, it := range page.Items {
		out.Value = append(out.Value, wireKeyItem(r, it))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listDeletedKeys(w http.ResponseWriter, r *http.Request) error {
	pr, max, err := pageRequest(r)
	if err != nil {
		return err
	}
	page, err := poolFrom(r.Context()).ListDeletedKeys(r.Context(), callerFrom(r.Context()), pr)
	if err != nil {
		return err
	}
	out := api.DeletedKeyListResult{Value: make([]api.DeletedKeyItem, 0, len(page.Items)), NextLink: nextLink(r, page.Next, max)}
	for _, it := range page.Items {
		d := api.DeletedKeyItem{KeyItem: wireKeyItem(r, it), RecoveryID: baseURL(r) + "/deletedkeys/" + it.Name,
			DeletedDate: unixPtr(it.DeletedDate), ScheduledPurgeDate: unixPtr(it.ScheduledPurgeDate)}
		out.Value = append(out.Value, d)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getDeletedKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	d, err := poolFrom(r.Context()).GetDeletedKey(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireDeletedKey(r, d))
}

func (s *Server) purgeDeletedKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	if err := poolFrom(r.Context()).PurgeDeletedKey(r.Context(), callerFrom(r.Context()), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) recoverDeletedKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).RecoverDeletedKey(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) backupKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	blob, err := poolFrom(r.Context()).BackupKey(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.BackupKeyResult{Value: blob})
}

func (s *Server) restoreKey(w http.ResponseWriter, r *http.Request) error {
	var body api.KeyRestoreParameters
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if len(body.Value) == 0 {
		return badRequest("The backup blob (value) is required.")
	}
	b, err := poolFrom(r.Context()).RestoreKey(r.Context(), callerFrom(r.Context()), body.Value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).RotateKey(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireKeyBundle(r, b))
}

func wireRotationPolicy(r *http.Request, name string, p *hsm.RotationPolicy) *api.KeyRotationPolicy {
	out := &api.KeyRotationPolicy{ID: keyID(r, name, "") + "/rotationpolicy", LifetimeActions: []api.LifetimeAction{},
		Attributes: &api.KeyRotationPolicyAttributes{}}
	for _, a := range p.Actions {
		t := &api.LifetimeActionTrigger{}
		if a.TimeAfterCreate != nil {
			t.TimeAfterCreate = a.TimeAfterCreate.String()
		}
		if a.TimeBeforeExpiry != nil {
			t.TimeBeforeExpiry = a.TimeBeforeExpiry.String()
		}
		out.LifetimeActions = append(out.LifetimeActions, api.LifetimeAction{Trigger: t, Action: &api.LifetimeActionType{Type: a.Type}})
	}
	if p.ExpiryTime != nil {
		out.Attributes.ExpiryTime = p.ExpiryTime.String()
	}
	if !p.Created.IsZero() {
		out.Attributes.Created, out.Attributes.Updated = unix(p.Created), unix(p.Updated)
	}
	return out
}

func (s *Server) getRotationPolicy(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	p, err := poolFrom(r.Context()).GetRotationPolicy(r.Context(), callerFrom(r.Context()), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRotationPolicy(r, name.String(), p))
}

func (s *Server) updateRotationPolicy(w http.ResponseWriter, r *http.Request) error {
	name, err := keyName(r)
	if err != nil {
		return err
	}
	var body api.KeyRotationPolicy
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	var p hsm.RotationPolicy
	for _, la := range body.LifetimeActions {
		if la.Action == nil || la.Trigger == nil {
			return badRequest("Each lifetime action needs an action and a trigger.")
		}
		a := hsm.LifetimeAction{Type: la.Action.Type}
		if la.Trigger.TimeAfterCreate != "" {
			d, err := hsm.ParseDuration(la.Trigger.TimeAfterCreate)
			if err != nil {
				return badRequest("timeAfterCreate: %v", err)
			}
			a.TimeAfterCreate = &d
		}
		if la.Trigger.TimeBeforeExpiry != "" {
			d, err := hsm.ParseDuration(la.Trigger.TimeBeforeExpiry)
			if err != nil {
				return badRequest("timeBeforeExpiry: %v", err)
			}
			a.TimeBeforeExpiry = &d
		}
		p.Actions = append(p.Actions, a)
	}
	if body.Attributes != nil && strings.TrimSpace(body.Attributes.ExpiryTime) != "" {
		d, err := hsm.ParseDuration(body.Attributes.ExpiryTime)
		if err != nil {
			return badRequest("expiryTime: %v", err)
		}
		p.ExpiryTime = &d
	}
	out, err := poolFrom(r.Context()).UpdateRotationPolicy(r.Context(), callerFrom(r.Context()), name, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wireRotationPolicy(r, name.String(), out))
}

func (s *Server) randomBytes(w http.ResponseWriter, r *http.Request) error {
	var body api.GetRandomBytesRequest
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	b, err := poolFrom(r.Context()).RandomBytes(r.Context(), callerFrom(r.Context()), body.Count)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.RandomBytes{Value: b})
}
