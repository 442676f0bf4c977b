package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/memstore"
)

func TestCommitHook(t *testing.T) {
	if err := store.RunCommitHook(context.Background()); err != nil {
		t.Fatalf("RunCommitHook(no hook) = %v, want nil", err)
	}
	calls := 0
	refuse := errors.New("audit log full")
	ctx := store.WithCommitHook(context.Background(), func(context.Context) error { calls++; return refuse })
	st := memstore.New()
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("a", []byte("1")); err != nil {
			return err
		}
		return store.RunCommitHook(ctx)
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("Update with a failing hook = %v, want the hook's error", err)
	}
	st.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Get("a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(a) after a refused hook = %v, want ErrNotFound (rolled back)", err)
		}
		return nil
	})
	if err := store.RunCommitHook(ctx); !errors.Is(err, refuse) || calls != 1 {
		t.Errorf("second RunCommitHook = %v after %d calls, want the first result from one call", err, calls)
	}
}
