package starter

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/store"
)

// Launcher starts the workflows of opened returns. A create call writes the
// opening to PostgreSQL and answers; the launcher, woken by NOTIFY
// rma_opened, starts the workflow (idempotently: a start that already
// happened is found, not repeated) and releases the return's notices. It
// retries what fails with backoff and opens a support task after ten
// attempts, so an opening never waits silently. Every API and worker process
// runs one; row leases keep them from starting the same return at once.
type Launcher struct {
	c   *Client
	st  *store.Store
	log *zap.Logger
}

// NewLauncher builds a launcher for a client whose registry is st.
func NewLauncher(c *Client, st *store.Store, log *zap.Logger) *Launcher {
	return &Launcher{c: c, st: st, log: log}
}

// Run launches until ctx ends.
func (l *Launcher) Run(ctx context.Context) error {
	ln, err := l.st.Listen(store.OpenedChannel, func(err error) { l.log.Warn("opening listener", zap.Error(err)) })
	if err != nil {
		return err
	}
	defer ln.Close()
	for {
		if err := l.Drain(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("launch round failed", zap.Error(err))
		}
		wait := time.Minute
		if at, ok, err := l.st.NextStartAt(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("next start time", zap.Error(err))
		} else if ok {
			wait = min(max(time.Until(at), 0)+10*time.Millisecond, time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-ln.Notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain starts every opening that is due now, a few at a time. It claims
// no more than it starts at once, so each start (at most 30 s) begins and
// ends within its 45 s lease and no other launcher takes it over meanwhile.
func (l *Launcher) Drain(ctx context.Context) error {
	const concurrent = 8
	for {
		due, err := l.st.ClaimUnstarted(ctx, concurrent, 45*time.Second)
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		var wg sync.WaitGroup
		for _, u := range due {
			wg.Add(1)
			go func(u store.Unstarted) {
				defer wg.Done()
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := l.c.launchStored(sctx, u.RMAID, u.StartInput); err != nil {
					backoff := min(time.Duration(1<<min(u.Attempts, 6))*time.Second, time.Minute)
					if ctx.Err() != nil {
						// Shutting down: hand the opening back at once
						// rather than let its lease run out.
						backoff = 0
					}
					l.log.Warn("workflow start failed; will retry", zap.String("rma_id", u.RMAID), zap.Int("attempt", u.Attempts), zap.Duration("in", backoff), zap.Error(err))
					if err := l.st.RetryStart(context.WithoutCancel(ctx), u, backoff, err.Error()); err != nil {
						l.log.Error("reschedule start", zap.String("rma_id", u.RMAID), zap.Error(err))
					}
				}
			}(u)
		}
		wg.Wait()
	}
}
