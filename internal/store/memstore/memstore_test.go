package memstore_test

import (
	"testing"

	"github.com/cofferkms/coffer/internal/store"
	"github.com/cofferkms/coffer/internal/store/memstore"
	"github.com/cofferkms/coffer/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memstore.New() })
}
