package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

func notice(rma string, n int, template string) activities.Notification {
	return activities.Notification{Key: fmt.Sprintf("%s/notice/%d/%s", rma, n, template), RMAID: rma, To: domain.ToCustomer, Template: template}
}

// A publication writes the view, the audit entries and the notices at once,
// and exactly once: the same seq again, or an older one, changes nothing.
func TestPublishWritesOutboxAuditAndTasksOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r := fixture{id: "RMA-P", status: domain.StatusAwaitingShipment, created: t0, lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, "")}}.ret()
	r.Timeline = []domain.TimelineEntry{{At: t0, Type: "requested", Actor: "backend"}}
	p1 := activities.Publication{Seq: 2, Return: r, Audit: r.Timeline, Notices: []activities.Notification{notice("RMA-P", 1, "choose_shipping")}}
	for i := 0; i < 2; i++ {
		if err := s.Publish(ctx, p1); err != nil {
			t.Fatal(err)
		}
	}
	r.Status = domain.StatusNeedsAttention
	r.Attention = &domain.Attention{Step: "create-label", Error: "carrier down", Since: t0.Add(time.Hour)}
	r.Timeline = append(r.Timeline, domain.TimelineEntry{At: t0.Add(time.Hour), Type: "needs_attention", Actor: "system"})
	p2 := activities.Publication{Seq: 3, Return: r, AuditFrom: 1, Audit: r.Timeline[1:], Notices: []activities.Notification{notice("RMA-P", 2, "needs_attention")}}
	if err := s.Publish(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, p1); err != nil { // late retry of an older publication
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "RMA-P")
	if err != nil || got.Status != domain.StatusNeedsAttention || got.Seq != 3 {
		t.Fatalf("read %v %s seq %d", err, got.Status, got.Seq)
	}
	if n := count(t, s, "SELECT count(*) FROM audit WHERE rma_id = 'RMA-P'"); n != 2 {
		t.Fatalf("audit rows: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM outbox WHERE rma_id = 'RMA-P' AND NOT held"); n != 2 {
		t.Fatalf("outbox rows: %d", n)
	}
	tasks, err := s.Tasks(ctx, false, 10)
	if err != nil || len(tasks) != 1 || tasks[0].Kind != TaskNeedsAttention || tasks[0].RMAID != "RMA-P" {
		t.Fatalf("tasks: %v %+v", err, tasks)
	}
	// Support retried and the step went through: the task closes.
	r.Status, r.Attention = domain.StatusAwaitingShipment, nil
	if err := s.Publish(ctx, activities.Publication{Seq: 4, Return: r, AuditFrom: 2}); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.Tasks(ctx, false, 10); len(open) != 0 {
		t.Fatalf("task still open: %+v", open)
	}
	if all, _ := s.Tasks(ctx, true, 10); len(all) != 1 || all[0].ClosedAt == nil {
		t.Fatalf("closed task: %+v", all)
	}
}

func opening(id, key, hash string) Opening {
	r := domain.NewView(id, domain.Request{OrderID: "SO-1", Kind: domain.KindReturn, Customer: domain.Customer{ID: "C-1"},
		Lines: []domain.Line{{LineID: "L1", SKU: "SKU-A", Quantity: 1, UnitPrice: cny(100)}}}, t0)
	r.Log(t0, "requested", "backend", "")
	return Opening{Key: key, RequestHash: hash, StartInput: json.RawMessage(`{"rma_id":"` + id + `"}`),
		Publication: activities.Publication{Seq: 1, Return: r, Audit: r.Timeline, Notices: []activities.Notification{notice(id, 1, "choose_shipping")}}}
}

// The create call writes the opening and answers; a launcher starts the
// workflow. The return is visible from the first moment, its notices are
// held until its workflow runs, and its key keeps it however long Temporal
// keeps the workflow.
func TestOpeningsAreQueuedForTheirStartAndKeysLast(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Open(ctx, opening("RMA-K", "key-1", "h1")); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, "RMA-K"); err != nil || r.Seq != 1 {
		t.Fatalf("the opening is the return from the start: %v %+v", err, r)
	}
	if items, _ := s.ClaimNotices(ctx, 10, time.Minute); len(items) != 0 {
		t.Fatalf("a notice went out before the workflow started: %+v", items)
	}
	if err := s.Open(ctx, opening("RMA-K", "key-1", "h1")); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second opening: %v", err)
	}
	ex, err := s.LookupKey(ctx, "key-1")
	if err != nil || ex == nil || ex.RMAID != "RMA-K" || ex.RequestHash != "h1" || ex.Started || string(ex.StartInput) == "" {
		t.Fatalf("lookup: %v %+v", err, ex)
	}
	if u, _ := s.Unstarted(ctx, "RMA-K"); u == nil {
		t.Fatal("not queued for its start")
	}
	due, err := s.ClaimUnstarted(ctx, 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].RMAID != "RMA-K" || due[0].Attempts != 1 {
		t.Fatalf("claim: %v %+v", err, due)
	}
	if again, _ := s.ClaimUnstarted(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased opening was handed out twice: %+v", again)
	}
	if err := s.RetryStart(ctx, due[0], -time.Second, "temporal down"); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ClaimUnstarted(ctx, 10, time.Minute)
	if len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("retry: %+v", again)
	}
	// Ten failed attempts tell support; the start that finally works
	// closes the task.
	again[0].Attempts = 10
	if err := s.RetryStart(ctx, again[0], time.Hour, "temporal down"); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.Tasks(ctx, false, 10); len(open) != 1 || open[0].Kind != TaskStartFailed {
		t.Fatalf("start task: %+v", open)
	}
	if again, _ := s.ClaimUnstarted(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("claimed before its backoff ended: %+v", again)
	}
	if err := s.MarkStarted(ctx, "RMA-K"); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.Tasks(ctx, false, 10); len(open) != 0 {
		t.Fatalf("the start task stayed open after the start: %+v", open)
	}
	if items, _ := s.ClaimNotices(ctx, 10, time.Minute); len(items) != 1 {
		t.Fatalf("released notices: %+v", items)
	}
	if u, _ := s.Unstarted(ctx, "RMA-K"); u != nil {
		t.Fatalf("still queued: %+v", u)
	}
	if _, ok, _ := s.NextStartAt(ctx); ok {
		t.Fatal("a started return is still due")
	}
	if ex, _ := s.LookupKey(ctx, "key-1"); ex == nil || !ex.Started {
		t.Fatalf("started: %+v", ex)
	}
	if ex, _ := s.LookupKey(ctx, "key-2"); ex != nil {
		t.Fatalf("unknown key found: %+v", ex)
	}
}

// A scan can reach the webhook before, during or after the label step writes
// the route. Whatever the order, every event reaches the return exactly once:
// either the webhook routes it, or the label step hands it back.
func TestCarrierEventsRouteOnceWhateverTheOrder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		tracking := fmt.Sprintf("RT%03d", round)
		ev := activities.TrackingEvent{EventID: "ev-" + tracking, TrackingNumber: tracking, Type: domain.CarrierPickedUp, OccurredAt: t0}
		var route Route
		var early []activities.TrackingEvent
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() { defer wg.Done(); route, errA = s.AcceptCarrierEvent(ctx, ev) }()
		go func() {
			defer wg.Done()
			early, errB = s.RouteParcel(ctx, activities.Parcel{TrackingNumber: tracking, RMAID: "RMA-R", Purpose: activities.ParcelReturn})
		}()
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		byWebhook := route.Routing == Signal
		byLabel := len(early) == 1 && early[0].EventID == ev.EventID
		if !byWebhook && !byLabel {
			t.Fatalf("round %d: the event reached nobody: %+v, %+v", round, route, early)
		}
		if byWebhook && route.RMAID != "RMA-R" {
			t.Fatalf("routed to %q", route.RMAID)
		}
	}
	// Unknown parcels are kept for support.
	if rt, err := s.AcceptCarrierEvent(ctx, activities.TrackingEvent{EventID: "ghost-1", TrackingNumber: "NOPE", Type: domain.CarrierDelivered, OccurredAt: t0}); err != nil || rt.Routing != Unrouted {
		t.Fatalf("unknown parcel: %v %+v", err, rt)
	}
	if evs, err := s.UnroutedEvents(ctx, 10); err != nil || len(evs) != 1 || evs[0].EventID != "ghost-1" {
		t.Fatalf("kept for support: %v %+v", err, evs)
	}
}

// Only the scans that move a return are signalled; replays change nothing.
func TestCarrierEventSignalling(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.RouteParcel(ctx, activities.Parcel{TrackingNumber: "RT1", RMAID: "RMA-S", Purpose: activities.ParcelReturn}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id   string
		typ  domain.CarrierEventType
		want Routing
	}{
		{"e1", domain.CarrierPickedUp, Signal},
		{"e2", domain.CarrierInTransit, Recorded}, // after the first scan: nothing moves
		{"e3", domain.CarrierInTransit, Recorded},
		{"e4", domain.CarrierException, Signal},
		{"e5", domain.CarrierException, Signal}, // every exception reaches support
		{"e6", domain.CarrierDelivered, Signal},
		{"e7", domain.CarrierDelivered, Recorded},
	}
	for _, c := range cases {
		rt, err := s.AcceptCarrierEvent(ctx, activities.TrackingEvent{EventID: c.id, TrackingNumber: "RT1", Type: c.typ, OccurredAt: t0})
		if err != nil || rt.Routing != c.want {
			t.Fatalf("%s %s: %v %+v, want %v", c.id, c.typ, err, rt, c.want)
		}
		if rt.Routing == Signal {
			if err := s.EventSignalled(ctx, c.id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rt, _ := s.AcceptCarrierEvent(ctx, activities.TrackingEvent{EventID: "e1", TrackingNumber: "RT1", Type: domain.CarrierPickedUp, OccurredAt: t0}); rt.Routing != Replayed {
		t.Fatalf("replay: %+v", rt)
	}
	// A signal that failed leaves the event unrouted: the carrier's retry
	// delivers it.
	if _, err := s.RouteParcel(ctx, activities.Parcel{TrackingNumber: "RT2", RMAID: "RMA-S2", Purpose: activities.ParcelReturn}); err != nil {
		t.Fatal(err)
	}
	ev := activities.TrackingEvent{EventID: "f1", TrackingNumber: "RT2", Type: domain.CarrierPickedUp, OccurredAt: t0}
	if rt, _ := s.AcceptCarrierEvent(ctx, ev); rt.Routing != Signal {
		t.Fatalf("first: %+v", rt)
	}
	if rt, _ := s.AcceptCarrierEvent(ctx, ev); rt.Routing != Signal {
		t.Fatalf("retry after a failed signal: %+v", rt)
	}
	record, err := s.TrackingRecord(ctx, "RT1")
	if err != nil || len(record) != 7 || record[0].EventID != "e1" || record[6].EventID != "e7" {
		t.Fatalf("tracking record: %v %+v", err, record)
	}
}

func completed(t *testing.T, s *Store, id string, until time.Time) {
	t.Helper()
	r := fixture{id: id, status: domain.StatusCompleted, created: t0}.ret()
	r.Timeline = []domain.TimelineEntry{{At: t0, Type: "completed", Actor: "system"}}
	r.SurveyUntil = &until
	if err := s.Publish(context.Background(), activities.Publication{Seq: 9, Return: r, Audit: r.Timeline}); err != nil {
		t.Fatal(err)
	}
}

func TestSurveyWindow(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	completed(t, s, "RMA-SV", t0.Add(7*24*time.Hour))
	r, err := s.AnswerSurvey(ctx, "RMA-SV", domain.Survey{Score: 4, Comment: "ok"}, "customer", t0.Add(time.Hour))
	if err != nil || r.Survey == nil || r.Survey.Score != 4 || r.Seq != 10 {
		t.Fatalf("answer: %v %+v", err, r)
	}
	if _, err := s.AnswerSurvey(ctx, "RMA-SV", domain.Survey{Score: 5}, "customer", t0.Add(2*time.Hour)); !errors.Is(err, ErrSurveyAnswered) {
		t.Fatalf("second answer: %v", err)
	}
	completed(t, s, "RMA-SV2", t0.Add(time.Hour))
	if _, err := s.AnswerSurvey(ctx, "RMA-SV2", domain.Survey{Score: 5}, "customer", t0.Add(2*time.Hour)); !errors.Is(err, ErrSurveyClosed) {
		t.Fatalf("after the window: %v", err)
	}
	open := fixture{id: "RMA-SV3", status: domain.StatusInTransit, created: t0}.ret()
	if err := s.Publish(ctx, activities.Publication{Seq: 2, Return: open}); err != nil {
		t.Fatal(err)
	}
	var ref *SurveyRefusal
	if _, err := s.AnswerSurvey(ctx, "RMA-SV3", domain.Survey{Score: 5}, "customer", t0); !errors.As(err, &ref) || ref.Status != domain.StatusInTransit {
		t.Fatalf("before completion: %v", err)
	}
	if _, err := s.AnswerSurvey(ctx, "RMA-NONE", domain.Survey{Score: 5}, "customer", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if n := count(t, s, "SELECT count(*) FROM audit WHERE rma_id = 'RMA-SV' AND command = 'survey'"); n != 1 {
		t.Fatalf("audit: %d", n)
	}
	k, err := s.KPIs(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || k.SatisfactionAvg == nil || *k.SatisfactionAvg != 4 {
		t.Fatalf("kpis: %v %+v", err, k.SatisfactionAvg)
	}
}

// An exchange completes when its replacement ships; the delivery comes
// after the workflow ended and is noted on the read model.
func TestRecordLateEvent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r := fixture{id: "RMA-L", status: domain.StatusCompleted, created: t0, lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionPass)}}.ret()
	r.Lines[0].Replacement = &domain.Replacement{SKU: "SKU-B", Shipped: true, TrackingNumber: "OB1"}
	r.Timeline = []domain.TimelineEntry{{At: t0, Type: "completed", Actor: "system"}}
	if err := s.Publish(ctx, activities.Publication{Seq: 5, Return: r, Audit: r.Timeline}); err != nil {
		t.Fatal(err)
	}
	ev := activities.TrackingEvent{EventID: "d1", TrackingNumber: "OB1", Type: domain.CarrierDelivered, OccurredAt: t0}
	if err := s.RecordLateEvent(ctx, "RMA-L", ev); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "RMA-L")
	if !got.Lines[0].Replacement.Delivered || got.Timeline[len(got.Timeline)-1].Type != "replacement_delivered" || got.Seq != 6 {
		t.Fatalf("late delivery: %+v", got)
	}
	if n := count(t, s, "SELECT count(*) FROM audit WHERE rma_id = 'RMA-L'"); n != 2 {
		t.Fatalf("audit: %d", n)
	}
}

// The relay's queue: due notices in the order written, leased, retried
// later, or given up with a task for support.
func TestOutboxQueue(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var ns []activities.Notification
	for i := 1; i <= 5; i++ {
		ns = append(ns, notice("RMA-O", i, "n"))
	}
	if err := s.Enqueue(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, ns[:2]); err != nil { // a retried write adds nothing
		t.Fatal(err)
	}
	items, err := s.ClaimNotices(ctx, 10, time.Minute)
	if err != nil || len(items) != 5 {
		t.Fatalf("claim: %v %d", err, len(items))
	}
	for i, it := range items {
		if it.Notice.Key != ns[i].Key || it.Attempts != 1 {
			t.Fatalf("order or attempts: %d %+v", i, it)
		}
	}
	if again, _ := s.ClaimNotices(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased notices handed out twice: %d", len(again))
	}
	if err := s.NoticesDelivered(ctx, []int64{items[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.NoticeRetry(ctx, items[1].ID, time.Now().Add(-time.Second), "timeout"); err != nil {
		t.Fatal(err)
	}
	if err := s.NoticeFailed(ctx, items[2], "no such address"); err != nil {
		t.Fatal(err)
	}
	due, _ := s.ClaimNotices(ctx, 10, time.Minute)
	if len(due) != 1 || due[0].ID != items[1].ID || due[0].Attempts != 2 {
		t.Fatalf("retry: %+v", due)
	}
	tasks, _ := s.Tasks(ctx, false, 10)
	if len(tasks) != 1 || tasks[0].Kind != TaskNoticeFailed || tasks[0].RMAID != "RMA-O" {
		t.Fatalf("tasks: %+v", tasks)
	}
	if at, ok, err := s.NextNoticeAt(ctx); err != nil || !ok || at.Before(time.Now()) {
		t.Fatalf("next notice: %v %v %v", at, ok, err)
	}
}

// Many transactions at once on a fresh store, each meeting its statements
// for the first time (the state of every API process right after it starts,
// when a burst of creates arrives), must all go through: a transaction holds
// a connection, so nothing it runs may wait for another one.
func TestConcurrentFirstUseDoesNotExhaustThePool(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 40
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			id := fmt.Sprintf("RMA-P%d", i)
			errs <- s.Open(ctx, opening(id, "key-"+id, "h"))
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("opening %d: %v", i, err)
		}
	}
	if got := count(t, s, `SELECT count(*) FROM returns`); got != n {
		t.Fatalf("%d returns opened, want %d", got, n)
	}
}

// TestSupersededAttemptLosesToItsReRun: a worker loses its workflow task
// (the server restarts) but keeps running it, while another worker re-runs
// the task and completes the return. Both publish seq 5: the re-run, with
// the longer history, "completed"; the superseded attempt, late,
// "inspecting". The read model keeps the re-run's view, whatever the order
// the two writes land in. (Found by the chaos run: the late write won.)
func TestSupersededAttemptLosesToItsReRun(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	base := fixture{id: "RMA-EPOCH", status: domain.StatusInspecting, created: t0, lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionPass)}}.ret()
	done := base
	done.Status = domain.StatusCompleted
	stale := activities.Publication{Seq: 5, Epoch: 31, Return: base}
	rerun := activities.Publication{Seq: 5, Epoch: 36, Return: done}
	for _, order := range [][]activities.Publication{{rerun, stale}, {stale, rerun}} {
		if _, err := s.DB().ExecContext(ctx, `DELETE FROM returns WHERE rma_id = $1`, base.ID); err != nil {
			t.Fatal(err)
		}
		for _, p := range order {
			if err := s.Publish(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, base.ID)
		if err != nil || got.Status != domain.StatusCompleted {
			t.Fatalf("epochs %d then %d: read model %s (%v), want completed", order[0].Epoch, order[1].Epoch, got.Status, err)
		}
	}
}
