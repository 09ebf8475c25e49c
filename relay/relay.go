// Package relay delivers the notice outbox. A return's workflow writes its
// notices in the same transaction as the state change that caused them; the
// relay sends each one to the notifier with its idempotency key, retrying
// with backoff until it is delivered. A notice the notifier refuses (a bad
// address) or that keeps failing for an hour opens a task for support:
// nothing is lost quietly. It wakes on PostgreSQL NOTIFY and at the next
// retry time, never on a polling interval.
package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/store"
)

// Options tune the relay.
type Options struct {
	// Batch is how many notices one round leases.
	Batch int
	// Lease is how long a leased notice is kept from other relays.
	Lease time.Duration
	// MaxBackoff caps the wait between attempts of one notice.
	MaxBackoff time.Duration
	// StuckAfter opens a support task for a notice still failing this long
	// after it was written (it keeps retrying).
	StuckAfter time.Duration
}

// DefaultOptions are the production settings.
func DefaultOptions() Options {
	return Options{Batch: 50, Lease: time.Minute, MaxBackoff: 10 * time.Minute, StuckAfter: time.Hour}
}

// Relay delivers the outbox.
type Relay struct {
	st  *store.Store
	n   activities.Notifier
	log *zap.Logger
	o   Options
	now func() time.Time
}

// New builds a relay.
func New(st *store.Store, n activities.Notifier, log *zap.Logger, o Options) *Relay {
	if o.Batch == 0 {
		o = DefaultOptions()
	}
	return &Relay{st: st, n: n, log: log, o: o, now: time.Now}
}

// Run delivers until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	return loop(ctx, r.st, store.OutboxChannel, r.log, r.o.MaxBackoff, r.Drain, r.st.NextNoticeAt)
}

// loop is a relay's life: drain what is due, then sleep until the next
// item is due (at most maxWait) or the channel is NOTIFYed, until ctx
// ends. Never a polling interval.
func loop(ctx context.Context, st *store.Store, channel string, log *zap.Logger, maxWait time.Duration,
	drain func(context.Context) error, next func(context.Context) (time.Time, bool, error)) error {
	l, err := st.Listen(channel, func(err error) { log.Warn("listener", zap.String("channel", channel), zap.Error(err)) })
	if err != nil {
		return err
	}
	defer l.Close()
	for {
		if err := drain(ctx); err != nil && ctx.Err() == nil {
			log.Error("relay round failed", zap.Error(err))
		}
		wait := maxWait
		if at, ok, err := next(ctx); err == nil && ok {
			wait = max(time.Until(at), 0) + 10*time.Millisecond
		}
		t := time.NewTimer(min(wait, maxWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-l.Notify:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain delivers every notice that is due now.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		items, err := r.st.ClaimNotices(ctx, r.o.Batch, r.o.Lease)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		var delivered []int64
		var derr error
		for _, it := range items {
			if derr = ctx.Err(); derr != nil {
				break // shutting down: the rest go back when their lease ends
			}
			ok, err := r.deliver(ctx, it)
			if err != nil {
				derr = err
				break
			}
			if ok {
				delivered = append(delivered, it.ID)
			}
		}
		// What went out is marked even when the round stops early or the
		// relay is shutting down, so it is not sent again.
		if err := r.st.NoticesDelivered(context.WithoutCancel(ctx), delivered); err != nil {
			return err
		}
		if derr != nil {
			return derr
		}
	}
}

// deliver sends one notice; ok reports it delivered (marked with its batch).
func (r *Relay) deliver(ctx context.Context, it store.OutboxItem) (bool, error) {
	n := it.Notice
	log := r.log.With(zap.String("rma_id", n.RMAID), zap.String("key", n.Key), zap.String("to", n.To), zap.String("template", n.Template), zap.Int("attempt", it.Attempts))
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := r.n.Notify(dctx, n)
	cancel()
	if err == nil {
		log.Info("notice delivered")
		return true, nil
	}
	// What happened is recorded even when the relay is shutting down.
	ctx = context.WithoutCancel(ctx)
	var rej *activities.RejectedError
	if errors.As(err, &rej) {
		log.Error("notice refused by the notifier; support task opened", zap.Error(err))
		return false, r.st.NoticeFailed(ctx, it, err.Error())
	}
	backoff := min(time.Duration(1<<min(it.Attempts, 20))*time.Second, r.o.MaxBackoff)
	log.Warn("notice delivery failed; will retry", zap.Duration("in", backoff), zap.Error(err))
	if r.now().Sub(it.CreatedAt) > r.o.StuckAfter {
		if err := r.st.NoticeStuck(ctx, it, err.Error()); err != nil {
			return false, err
		}
	}
	if err := r.st.NoticeRetry(ctx, it.ID, r.now().Add(backoff), err.Error()); err != nil {
		return false, fmt.Errorf("reschedule: %w", err)
	}
	return false, nil
}
