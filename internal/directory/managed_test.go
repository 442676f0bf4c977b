package directory

import (
	"errors"
	"strings"
	"testing"

	"github.com/cofferkms/coffer/internal/store/memstore"
)

func TestManagedIdentities(t *testing.T) {
	ctx := t.Context()
	d := openDir(t, memstore.New(), newClock())
	tn := mustTenant(t, d, "contoso")
	other := mustTenant(t, d, "fabrikam")
	vm, vmSecret, err := d.CreateResource(ctx, tn.ID, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if vm.Hash != nil || len(vmSecret) != 43 {
		t.Errorf("CreateResource() = %+v, secret of %d chars; want no hash and a 43-character secret", vm, len(vmSecret))
	}
	if _, _, err := d.CreateResource(ctx, tn.ID, "VM1"); !errors.Is(err, ErrExists) {
		t.Errorf("CreateResource(VM1) error = %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "a/b", "-lead", "has space", strings.Repeat("n", 129)} {
		if _, _, err := d.CreateResource(ctx, tn.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateResource(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
	system := must(d.EnableSystemIdentity(ctx, "vm1"))
	if _, err := d.EnableSystemIdentity(ctx, "vm1"); !errors.Is(err, ErrExists) {
		t.Errorf("EnableSystemIdentity twice: error = %v, want ErrExists", err)
	}
	uami := must(d.CreateUserAssignedIdentity(ctx, tn.ID, "payroll"))
	if want := "/subscriptions/" + tn.ID + "/resourceGroups/coffer/providers/Microsoft.ManagedIdentity/userAssignedIdentities/payroll"; uami.ResourceID != want {
		t.Errorf("user-assigned ResourceID = %q, want %q", uami.ResourceID, want)
	}
	unattached := must(d.CreateUserAssignedIdentity(ctx, tn.ID, "unattached"))
	if err := d.AttachIdentity(ctx, uami.ObjectID, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachIdentity(ctx, system.ObjectID, "vm1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("AttachIdentity(system-assigned) error = %v, want ErrInvalid", err)
	}
	foreignVM, _, err := d.CreateResource(ctx, other.ID, "foreign-vm")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AttachIdentity(ctx, uami.ObjectID, foreignVM.Name); !errors.Is(err, ErrInvalid) {
		t.Errorf("AttachIdentity(other tenant's resource) error = %v, want ErrInvalid", err)
	}
	ownSecret, _ := must2(t)(d.ResetCredentials(ctx, unattached.ObjectID))
	if _, _, err := d.ResetCredentials(ctx, system.ObjectID); !errors.Is(err, ErrInvalid) {
		t.Errorf("ResetCredentials(system-assigned) error = %v, want ErrInvalid", err)
	}

	tests := []struct {
		name    string
		header  string
		sel     ManagedIdentitySelector
		wantOID string
		wantErr error
	}{
		{name: "system-assigned", header: vmSecret, wantOID: system.ObjectID},
		{name: "by client id", header: vmSecret, sel: ManagedIdentitySelector{ClientID: strings.ToUpper(uami.AppID)}, wantOID: uami.ObjectID},
		{name: "by object id", header: vmSecret, sel: ManagedIdentitySelector{ObjectID: uami.ObjectID}, wantOID: uami.ObjectID},
		{name: "by resource id", header: vmSecret, sel: ManagedIdentitySelector{ResourceID: uami.ResourceID}, wantOID: uami.ObjectID},
		{name: "not attached", header: vmSecret, sel: ManagedIdentitySelector{ClientID: unattached.AppID}, wantErr: ErrNotFound},
		{name: "own secret", header: ownSecret, wantOID: unattached.ObjectID},
		{name: "own secret with its selector", header: ownSecret, sel: ManagedIdentitySelector{ResourceID: unattached.ResourceID}, wantOID: unattached.ObjectID},
		{name: "own secret with another selector", header: ownSecret, sel: ManagedIdentitySelector{ClientID: uami.AppID}, wantErr: ErrNotFound},
		{name: "wrong secret", header: vmSecret[:42] + "x", wantErr: ErrAuthFailed},
		{name: "empty secret", header: "", wantErr: ErrAuthFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, credID, err := d.AuthenticateManagedIdentity(tc.header, tc.sel)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("AuthenticateManagedIdentity() error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if p.ObjectID != tc.wantOID {
				t.Errorf("AuthenticateManagedIdentity() = %s, want %s", p.ObjectID, tc.wantOID)
			}
			if err := d.Live(p.ObjectID, credID); err != nil {
				t.Errorf("Live() of a fresh managed identity token = %v, want nil", err)
			}
		})
	}
	if p, _, err := d.IdentityForResource("vm1", ManagedIdentitySelector{}); err != nil || p.ObjectID != system.ObjectID {
		t.Errorf("IdentityForResource(vm1) = %v, %v, want %s", p, err, system.ObjectID)
	}

	// Revocation: what a token obtained through the resource is bound to.
	_, sysCred, _ := d.AuthenticateManagedIdentity(vmSecret, ManagedIdentitySelector{})
	_, uamiCred, _ := d.AuthenticateManagedIdentity(vmSecret, ManagedIdentitySelector{ClientID: uami.AppID})
	if err := d.DetachIdentity(ctx, uami.ObjectID, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Live(uami.ObjectID, uamiCred); !errors.Is(err, ErrRevoked) {
		t.Errorf("Live(detached identity) = %v, want ErrRevoked", err)
	}
	newSecret, err := d.RotateResourceSecret(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Live(system.ObjectID, sysCred); !errors.Is(err, ErrRevoked) {
		t.Errorf("Live() after RotateResourceSecret = %v, want ErrRevoked", err)
	}
	if _, _, err := d.AuthenticateManagedIdentity(vmSecret, ManagedIdentitySelector{}); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old resource secret after rotation: error = %v, want ErrAuthFailed", err)
	}
	_, newCred, err := d.AuthenticateManagedIdentity(newSecret, ManagedIdentitySelector{})
	if err != nil {
		t.Fatalf("new resource secret: %v", err)
	}
	if err := d.Live(system.ObjectID, newCred); err != nil {
		t.Errorf("Live() with the new resource secret's credential = %v", err)
	}
	if err := d.Disable(ctx, system.ObjectID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.AuthenticateManagedIdentity(newSecret, ManagedIdentitySelector{}); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled identity: error = %v, want ErrDisabled", err)
	}
	if err := d.Enable(ctx, system.ObjectID); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachIdentity(ctx, uami.ObjectID, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteResource(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Get(system.ObjectID); ok {
		t.Errorf("the system-assigned identity outlived its resource")
	}
	if p, ok := d.Get(uami.ObjectID); !ok || len(p.AttachedTo) != 0 {
		t.Errorf("after DeleteResource, user-assigned identity = %+v, %v; want it kept and detached", p, ok)
	}
	if got := len(d.Resources(tn.ID)); got != 0 {
		t.Errorf("len(Resources()) = %d after deleting the only resource, want 0", got)
	}
}
