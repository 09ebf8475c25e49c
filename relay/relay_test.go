package relay

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/activities/memport"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/pgdev"
	"github.com/rma-dev/rma/store"
)

// refusing is the notifier of the test: the in-memory outbox, which refuses
// one template outright (a bad address).
type refusing struct {
	*memport.Notifier
	mu      sync.Mutex
	refused string
}

func (r *refusing) Notify(ctx context.Context, n activities.Notification) error {
	r.mu.Lock()
	bad := n.Template == r.refused
	r.mu.Unlock()
	if bad {
		return activities.Rejected("invalid_address", "no such mailbox")
	}
	return r.Notifier.Notify(ctx, n)
}

// The relay delivers every notice in the order written, retries the ones the
// notifier fails, and turns the ones it refuses into a task for support.
func TestRelayDeliversRetriesAndReportsRefusals(t *testing.T) {
	dir := t.TempDir()
	pg, err := pgdev.Start(context.Background(), filepath.Join(dir, "pg"), "rma")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	n := &refusing{Notifier: &memport.Notifier{}, refused: "bad_address"}
	n.Next("notify.flaky", 2) // fails twice, then goes through
	o := DefaultOptions()
	o.MaxBackoff = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- New(st, n, zap.NewNop(), o).Run(ctx) }()

	var ns []activities.Notification
	for i, tpl := range []string{"choose_shipping", "flaky", "label_ready", "bad_address", "refunded"} {
		ns = append(ns, activities.Notification{Key: fmt.Sprintf("RMA-R/notice/%d/%s", i+1, tpl), RMAID: "RMA-R", To: domain.ToCustomer, Template: tpl})
	}
	// Written after the relay is listening: NOTIFY wakes it.
	time.Sleep(200 * time.Millisecond)
	if err := st.Enqueue(ctx, ns); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && len(n.All()) < 4 {
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, m := range n.All() {
		got = append(got, m.Template)
	}
	// The flaky one is retried after the others went out.
	if strings.Join(got, ",") != "choose_shipping,label_ready,refunded,flaky" {
		t.Fatalf("delivered %v", got)
	}
	if calls := n.Calls("notify.flaky"); calls != 3 {
		t.Fatalf("flaky notice attempted %d times, want 3", calls)
	}
	var tasks []store.Task
	for time.Now().Before(deadline) {
		if tasks, err = st.Tasks(ctx, false, 10); err == nil && len(tasks) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(tasks) != 1 || tasks[0].Kind != store.TaskNoticeFailed || !strings.Contains(tasks[0].Detail, "bad_address") {
		t.Fatalf("support task: %+v", tasks)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(dir)
}

// stopping delivers notices until the one it is told to stop at, where the
// relay's process is shut down in the middle of the call.
type stopping struct {
	*memport.Notifier
	at   string
	stop context.CancelFunc
}

func (s *stopping) Notify(ctx context.Context, n activities.Notification) error {
	if n.Template == s.at {
		s.stop()
		return ctx.Err()
	}
	return s.Notifier.Notify(ctx, n)
}

// A relay shut down in the middle of a batch still records what it
// delivered, so a notice that went out is not sent again by the next relay.
func TestRelayStoppedMidBatchKeepsWhatWentOut(t *testing.T) {
	dir := t.TempDir()
	pg, err := pgdev.Start(context.Background(), filepath.Join(dir, "pg"), "rma")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	bg := context.Background()
	st, err := store.Open(bg, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(bg); err != nil {
		t.Fatal(err)
	}
	var ns []activities.Notification
	for i, tpl := range []string{"choose_shipping", "label_ready", "refunded"} {
		ns = append(ns, activities.Notification{Key: fmt.Sprintf("RMA-S/notice/%d", i+1), RMAID: "RMA-S", To: domain.ToCustomer, Template: tpl})
	}
	if err := st.Enqueue(bg, ns); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	n := &stopping{Notifier: &memport.Notifier{}, at: "label_ready", stop: cancel}
	_ = New(st, n, zap.NewNop(), DefaultOptions()).Drain(ctx)
	if len(n.All()) != 1 {
		t.Fatalf("sent %+v", n.All())
	}
	db, err := sql.Open("postgres", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var delivered string
	if err := db.QueryRow(`SELECT coalesce(string_agg(key, ','), '') FROM outbox WHERE delivered_at IS NOT NULL`).Scan(&delivered); err != nil {
		t.Fatal(err)
	}
	if delivered != "RMA-S/notice/1" {
		t.Fatalf("marked delivered: %q, want the one that went out", delivered)
	}
}
