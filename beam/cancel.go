package beam

import (
	"context"
	"sync"
)

// Prism runs the pipeline's DoFns in this process, and cancelling the
// context given to prism.Execute makes its worker panic (Beam 2.78). So a
// Prism run gets a context that is never cancelled, and cancelling the
// command's context (Ctrl-C) reaches the DoFns instead: they work under
// the launcher's context too, return its error, and the pipeline fails at
// once. Remote runners get the command's context itself.
var launcher struct {
	sync.Mutex
	ctx context.Context
}

func setLauncher(ctx context.Context) func() {
	launcher.Lock()
	launcher.ctx = ctx
	launcher.Unlock()
	return func() {
		launcher.Lock()
		launcher.ctx = nil
		launcher.Unlock()
	}
}

// workCtx is ctx, also cancelled when the launcher's context in this
// process is.
func workCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	launcher.Lock()
	lc := launcher.ctx
	launcher.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	if lc == nil {
		return ctx, func() { cancel(nil) }
	}
	if err := lc.Err(); err != nil {
		cancel(err)
		return ctx, func() {}
	}
	stop := context.AfterFunc(lc, func() { cancel(lc.Err()) })
	return ctx, func() { stop(); cancel(nil) }
}
