package store

import (
	"context"
	"sync"
)

// A commit hook is work that must succeed before a change is committed,
// carried by the request's context. The server uses it to make a request's
// audit event durable before the request's change is: code that writes
// calls RunCommitHook as the last step inside its Update closure, so when
// the event cannot be recorded the transaction rolls back and nothing
// changes unrecorded.

type commitHookKey struct{}

type commitHook struct {
	once sync.Once
	fn   func(context.Context) error
	err  error
}

// WithCommitHook returns a context whose first RunCommitHook call runs fn.
func WithCommitHook(ctx context.Context, fn func(context.Context) error) context.Context {
	return context.WithValue(ctx, commitHookKey{}, &commitHook{fn: fn})
}

// RunCommitHook runs ctx's commit hook, once: later calls return the first
// call's result. Without a hook it returns nil.
func RunCommitHook(ctx context.Context) error {
	h, ok := ctx.Value(commitHookKey{}).(*commitHook)
	if !ok {
		return nil
	}
	h.once.Do(func() { h.err = h.fn(ctx) })
	return h.err
}
