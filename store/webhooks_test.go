package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Events are written with the publication that causes them and queued for
// every matching endpoint; a retried publication writes none twice; each
// return's deliveries are leased one at a time, in order; two relays never
// lease the same delivery; a failure past the retries pauses the endpoint
// and opens a task.
func TestWebhookOutbox(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	all, err := s.CreateEndpoint(ctx, "http://127.0.0.1:1/all", []string{"*"}, "", "backend:erp")
	if err != nil {
		t.Fatal(err)
	}
	refunds, _ := s.CreateEndpoint(ctx, "http://127.0.0.1:1/refunds", []string{"return.refunded"}, "", "backend:bi")
	publish := func(id string, seq int64, status domain.Status, audit ...string) {
		t.Helper()
		r := fixture{id: id, status: status, created: t0, lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, "")}}.ret()
		var entries []domain.TimelineEntry
		for _, a := range audit {
			entries = append(entries, domain.TimelineEntry{At: t0, Type: a, Actor: "system"})
		}
		from := int(seq) * 10
		if err := s.Publish(ctx, activities.Publication{Seq: seq, Return: r, AuditFrom: from, Audit: entries}); err != nil {
			t.Fatal(err)
		}
	}
	publish("W1", 1, domain.StatusAwaitingShipment, "requested", "approved")
	publish("W1", 2, domain.StatusCompleted, "received", "refunded", "completed")
	publish("W1", 2, domain.StatusCompleted, "received", "refunded", "completed") // a retry
	publish("W2", 1, domain.StatusPendingReview, "requested")
	var events, toAll, toRefunds int
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM webhook_events), (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1),
  (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $2)`, all.ID, refunds.ID).Scan(&events, &toAll, &toRefunds); err != nil {
		t.Fatal(err)
	}
	// W1: created, approved, status_changed (new row); received, refunded,
	// completed, status_changed. W2: created, status_changed.
	if events != 9 || toAll != 9 || toRefunds != 1 {
		t.Fatalf("events %d, to all %d, to refunds %d", events, toAll, toRefunds)
	}

	// Two relays at once: disjoint leases, one delivery per return and
	// endpoint at a time.
	var mu sync.Mutex
	leased := map[int64]bool{}
	heads := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, err := s.ClaimDeliveries(ctx, 50, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, j := range jobs {
				if leased[j.ID] {
					t.Errorf("delivery %d leased twice", j.ID)
				}
				leased[j.ID] = true
				heads[j.EndpointID+"/"+j.Event.RMAID]++
			}
		}()
	}
	wg.Wait()
	if len(leased) != 3 {
		t.Fatalf("leased %d deliveries, want the three heads (W1 and W2 to all, W1 to refunds): %v", len(leased), heads)
	}
	for k, n := range heads {
		if n != 1 {
			t.Fatalf("%s had %d deliveries leased at once", k, n)
		}
	}

	// In order: the head of W1 to "all" is return.created; once delivered
	// the next is approved.
	var head DeliveryJob
	if _, err := s.db.Exec(`UPDATE webhook_deliveries SET lease_until = NULL`); err != nil {
		t.Fatal(err)
	}
	jobs, _ := s.ClaimDeliveries(ctx, 50, time.Minute)
	for _, j := range jobs {
		if j.EndpointID == all.ID && j.Event.RMAID == "W1" {
			head = j
		}
	}
	if head.Event.Type != "return.created" {
		t.Fatalf("head of W1: %s", head.Event.Type)
	}
	if err := s.DeliveryDone(ctx, head, 204, 3*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE webhook_deliveries SET lease_until = NULL`); err != nil {
		t.Fatal(err)
	}
	jobs, _ = s.ClaimDeliveries(ctx, 50, time.Minute)
	var next DeliveryJob
	for _, j := range jobs {
		if j.EndpointID == all.ID && j.Event.RMAID == "W1" {
			next = j
		}
	}
	if next.Event.Type != "return.approved" {
		t.Fatalf("after created: %s", next.Event.Type)
	}

	// Given up: the endpoint pauses and support gets a task.
	if err := s.DeliveryFailed(ctx, next, 500, "HTTP 500", time.Millisecond, time.Now(), true, 500); err != nil {
		t.Fatal(err)
	}
	eps, _ := s.ListEndpoints(ctx, "backend:erp")
	if len(eps) != 1 || !eps[0].Paused {
		t.Fatalf("endpoint after giving up: %+v", eps)
	}
	tasks, _ := s.Tasks(ctx, false, 10)
	found := false
	for _, tk := range tasks {
		found = found || tk.Kind == TaskWebhookPaused
	}
	if !found {
		t.Fatalf("no task for the paused endpoint: %+v", tasks)
	}
	if n, err := s.Replay(ctx, all.ID, "backend:bi", t0); err != ErrNoEndpoint || n != 0 {
		t.Fatalf("another owner replaying: %d %v", n, err)
	}
	if n, err := s.Replay(ctx, all.ID, "", time.Now().Add(-time.Hour)); err != nil || n != 9 {
		t.Fatalf("replay: %d %v", n, err)
	}
}
