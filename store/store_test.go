package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/pgdev"
)

var pg *pgdev.Server

// TestMain starts a private PostgreSQL from the local binaries, the same
// way `rma dev` does.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rma-store-test")
	if err != nil {
		panic(err)
	}
	pg, err = pgdev.Start(context.Background(), filepath.Join(dir, "pg"), "rma")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgres:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var dbSeq int

// newStore gives each test its own migrated database.
func newStore(t *testing.T) *Store {
	t.Helper()
	dbSeq++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq)
	admin, err := sql.Open("postgres", fmt.Sprintf("postgres://rma@127.0.0.1:%d/postgres?sslmode=disable", pg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), fmt.Sprintf("postgres://rma@127.0.0.1:%d/%s?sslmode=disable", pg.Port, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if v, err := s.Migrate(context.Background()); err != nil || len(v) == 0 {
		t.Fatalf("migrate: %v %v", v, err)
	}
	if v, err := s.Migrate(context.Background()); err != nil || len(v) != 0 {
		t.Fatalf("second migrate should apply nothing: %v %v", v, err)
	}
	return s
}

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func cny(a int64) domain.Money { return domain.Money{Amount: a, Currency: "CNY"} }

type fixture struct {
	id       string
	status   domain.Status
	created  time.Time
	stages   map[string]time.Duration // offsets from created
	breaches []string
	survey   int
	lines    []domain.LineState
	due      time.Duration // the legal refund deadline, from created
	events   []string      // timeline entries (audit commands)
}

func (f fixture) ret() domain.Return {
	r := domain.Return{ID: f.id, OrderID: "SO-" + f.id, Kind: domain.KindReturn, Status: f.status, Channel: domain.ChannelWeb,
		Customer: domain.Customer{ID: "C-" + f.id, Tier: domain.TierStandard}, RefundTotal: cny(0), FeesTotal: cny(0),
		CreatedAt: f.created, UpdatedAt: f.created, Stages: map[string]time.Time{}, SLABreaches: f.breaches, Lines: f.lines}
	for k, d := range f.stages {
		r.Stages[k] = f.created.Add(d)
	}
	if f.survey > 0 {
		r.Survey = &domain.Survey{Score: f.survey, At: f.created}
	}
	for _, e := range f.events {
		r.Timeline = append(r.Timeline, domain.TimelineEntry{At: f.created, Type: e, Actor: "system"})
	}
	if f.due > 0 {
		due := f.created.Add(f.due)
		r.RefundDueAt = &due
	}
	for _, l := range f.lines {
		if l.Refund != nil {
			r.RefundTotal = r.RefundTotal.Add(l.Refund.Net)
		}
	}
	return r
}

func line(id, sku, batch string, reason domain.Reason, result domain.InspectionResult) domain.LineState {
	l := domain.LineState{Line: domain.Line{LineID: id, SKU: sku, Batch: batch, Quantity: 1, UnitPrice: cny(10000), Reason: reason, Resolution: domain.ResolutionRefund}, Eligible: true}
	if result != "" {
		l.Inspection = &domain.Inspection{Result: result, Disposition: domain.DispositionRestock, At: t0}
	}
	if result == domain.InspectionPass {
		l.Refund = &domain.LineRefund{LineID: id, Gross: cny(10000), Fees: cny(0), Net: cny(10000)}
	}
	return l
}

func keptAt(l domain.LineState, amount int64, answer string) domain.LineState {
	l.KeepOffer = &domain.KeepOffer{Amount: cny(amount), By: "support:amy", Answer: answer}
	return l
}

func project(t *testing.T, s *Store, seq int64, r domain.Return) {
	t.Helper()
	if err := s.Publish(context.Background(), activities.Publication{Seq: seq, Return: r, Audit: r.Timeline}); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProjectionIsIdempotentAndNeverGoesBackwards(t *testing.T) {
	s := newStore(t)
	r := fixture{id: "RMA-1", status: domain.StatusResolving, created: t0, lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionPass)}}.ret()
	r.Timeline = []domain.TimelineEntry{{At: t0, Type: "requested", Actor: "backend:shop"}, {At: t0, Type: "approved", Actor: "support:amy"}}
	r.Payments = []domain.PaymentRecord{{Key: "RMA-1/L1/refund", Kind: "refund", LineID: "L1", Amount: cny(10000), At: t0}}
	project(t, s, 5, r)
	project(t, s, 5, r) // the same event twice
	if n := count(t, s, "SELECT count(*) FROM returns"); n != 1 {
		t.Fatalf("returns: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM audit WHERE rma_id = 'RMA-1'"); n != 2 {
		t.Fatalf("audit rows: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM money_movements"); n != 1 {
		t.Fatalf("money movements: %d", n)
	}
	older := r
	older.Status = domain.StatusInTransit
	older.Lines = nil
	project(t, s, 3, older) // arrives late
	got, err := s.Get(context.Background(), "RMA-1")
	if err != nil || got.Status != domain.StatusResolving || len(got.Lines) != 1 {
		t.Fatalf("an older seq changed the read model: %v %+v", err, got.Status)
	}
	if n := count(t, s, "SELECT count(*) FROM return_lines"); n != 1 {
		t.Fatalf("lines: %d", n)
	}
	newer := r
	newer.Status = domain.StatusCompleted
	newer.Timeline = append(newer.Timeline, domain.TimelineEntry{At: t0.Add(time.Hour), Type: "completed", Actor: "system"})
	project(t, s, 6, newer)
	if got, _ := s.Get(context.Background(), "RMA-1"); got.Status != domain.StatusCompleted {
		t.Fatalf("newer seq not applied: %s", got.Status)
	}
	if n := count(t, s, "SELECT count(*) FROM audit WHERE rma_id = 'RMA-1'"); n != 3 {
		t.Fatalf("audit rows after newer: %d", n)
	}
	if _, err := s.db.Exec("UPDATE audit SET actor = 'mallory'"); err == nil {
		t.Fatal("audit must be append-only")
	}
	if _, err := s.Get(context.Background(), "RMA-404"); err != ErrNotFound {
		t.Fatalf("missing return: %v", err)
	}
}

func near(a *float64, want float64) bool { return a != nil && math.Abs(*a-want) < 1e-9 }

func TestKPIsOnACraftedDataset(t *testing.T) {
	s := newStore(t)
	h := time.Hour
	fixtures := []fixture{
		// Reviewed within SLA, picked up at 1h, delivered at 25h, refunded at 27h.
		{id: "R1", status: domain.StatusCompleted, created: t0, survey: 5, due: 30 * h,
			stages: map[string]time.Duration{"requested": 0, "review_requested": 0, "picked_up": h, "delivered": 25 * h, "inspected": 26 * h, "refunded": 27 * h},
			lines:  []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionPass)}},
		// Auto-approved, picked up at 2h, delivered at 12h, refunded at 13h,
		// inspection late; one line failed.
		{id: "R2", status: domain.StatusCompleted, created: t0.Add(h), survey: 3, breaches: []string{"inspection", "legal_refund"}, due: 12 * h,
			stages: map[string]time.Duration{"requested": 0, "picked_up": 2 * h, "delivered": 12 * h, "inspected": 12 * h, "refunded": 13 * h},
			lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonSizeFit, domain.InspectionPass),
				line("L2", "SKU-B", "B7", domain.ReasonSizeFit, domain.InspectionFail)}},
		// Reviewed, reply SLA breached, then declined.
		{id: "R3", status: domain.StatusDeclined, created: t0.Add(2 * h), breaches: []string{"review_reply"}, survey: 2,
			stages: map[string]time.Duration{"requested": 0, "review_requested": 0}, lines: []domain.LineState{line("L1", "SKU-A", "B2", domain.ReasonChangedMind, "")}},
		{id: "R4", status: domain.StatusExpired, created: t0.Add(3 * h), stages: map[string]time.Duration{"requested": 0}, events: []string{"escalated_supervisor"},
			lines: []domain.LineState{keptAt(line("L1", "SKU-C", "B1", domain.ReasonOther, ""), 2500, "accepted"), keptAt(line("L2", "SKU-C", "B9", domain.ReasonOther, ""), 900, "declined")}},
		// Outside the range.
		{id: "R5", status: domain.StatusCompleted, created: t0.Add(-48 * h), survey: 1, stages: map[string]time.Duration{"requested": 0, "refunded": h},
			lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionFail)}},
	}
	for i, f := range fixtures {
		project(t, s, int64(i+1), f.ret())
	}
	k, err := s.KPIs(context.Background(), t0, t0.Add(24*h))
	if err != nil {
		t.Fatal(err)
	}
	if k.ReturnsTotal != 4 || k.CompletedTotal != 2 || k.DeclinedTotal != 1 || k.ExpiredTotal != 1 {
		t.Fatalf("totals: %+v", k)
	}
	checks := map[string]struct {
		got  *float64
		want float64
	}{
		"decline_rate":              {k.DeclineRate, 0.25},
		"inspection_pass_rate":      {k.InspectionPassRate, 2.0 / 3.0},
		"review_sla_met_rate":       {k.ReviewSLAMetRate, 0.5},
		"inspection_sla_met_rate":   {k.InspectionSLAMetRate, 0.5},
		"median_processing_seconds": {k.MedianProcessingSeconds, 20 * 3600}, // 27h and 13h
		"median_logistics_seconds":  {k.MedianLogisticsSeconds, 17 * 3600},  // 24h and 10h
		"median_refund_seconds":     {k.MedianRefundSeconds, 1.5 * 3600},    // 2h and 1h
		"satisfaction_avg":          {k.SatisfactionAvg, 10.0 / 3},
		"complaint_rate":            {k.ComplaintRate, 0.5},         // R3 scored 2, R4 escalated
		"legal_refund_on_time_rate": {k.LegalRefundOnTimeRate, 0.5}, // R1 by 30h at 27h, R2 by 12h at 13h
	}
	for name, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", name, deref(c.got), c.want)
		}
	}
	if k.KeepOffers != 2 || k.KeepAccepted != 1 || k.KeepAcceptedAmount != 2500 {
		t.Errorf("keep offers %d, accepted %d for %d", k.KeepOffers, k.KeepAccepted, k.KeepAcceptedAmount)
	}
	if k.RefundedAmount != 20000 {
		t.Errorf("refunded amount %d", k.RefundedAmount)
	}
	empty, err := s.KPIs(context.Background(), t0.Add(100*h), t0.Add(200*h))
	if err != nil || empty.ReturnsTotal != 0 || empty.InspectionPassRate != nil || empty.MedianProcessingSeconds != nil {
		t.Fatalf("an empty range must have no rates, not zeros: %+v %v", empty, err)
	}

	rows, err := s.Reasons(context.Background(), "sku", t0, t0.Add(24*h))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Key != "SKU-A" || rows[0].Units != 3 || rows[0].ByReason["size_fit"] != 1 || rows[0].ByReason["defective"] != 1 {
		t.Fatalf("reasons by sku: %+v", rows)
	}
	byBatch, _ := s.Reasons(context.Background(), "batch", t0, t0.Add(24*h))
	if byBatch[0].Key != "B1" || byBatch[0].Units != 3 {
		t.Fatalf("reasons by batch: %+v", byBatch)
	}
	if _, err := s.Reasons(context.Background(), "colour", t0, t0); err == nil {
		t.Fatal("bad group_by accepted")
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestAnomaliesFromSalesAndReturns(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	n := 0
	returnUnits := func(sku, batch string, units int) {
		for i := 0; i < units; i++ {
			n++
			id := fmt.Sprintf("A%d", n)
			project(t, s, 1, fixture{id: id, status: domain.StatusCompleted, created: t0, lines: []domain.LineState{line("L1", sku, batch, domain.ReasonDefective, "")}}.ret())
		}
	}
	returnUnits("SKU-LAMP", "B1", 20) // 2% of 1000
	returnUnits("SKU-LAMP", "B2", 24) // 12% of 200: a jump
	returnUnits("SKU-MUG", "M1", 10)  // 2% of 500
	returnUnits("SKU-MUG", "M2", 5)   // 2.5% of 200: normal
	if err := s.ImportSales(ctx, []Sale{{"SKU-LAMP", "B1", 1000}, {"SKU-LAMP", "B2", 200}, {"SKU-MUG", "M1", 500}, {"SKU-MUG", "M2", 200}}); err != nil {
		t.Fatal(err)
	}
	found, err := s.Anomalies(ctx, domain.Defaults().Anomaly)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].SKU != "SKU-LAMP" || found[0].Batch != "B2" || found[0].Sample != 200 || found[0].Returned != 24 ||
		math.Abs(found[0].Rate-0.12) > 1e-9 || math.Abs(found[0].Baseline-0.02) > 1e-9 {
		t.Fatalf("anomalies: %+v", found)
	}
	if err := s.ImportSales(ctx, []Sale{{"SKU-LAMP", "B2", 2000}}); err != nil { // re-import: 1.2% is no jump
		t.Fatal(err)
	}
	if found, _ := s.Anomalies(ctx, domain.Defaults().Anomaly); len(found) != 0 {
		t.Fatalf("after re-import: %+v", found)
	}
	if err := s.ImportSales(ctx, []Sale{{"", "B", 1}}); err == nil {
		t.Fatal("a sale without sku accepted")
	}
}

func TestCustomerHistoryAndPaging(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		f := fixture{id: fmt.Sprintf("P%d", i), status: domain.StatusCompleted, created: t0.Add(time.Duration(i) * time.Hour),
			lines: []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, "")}}
		r := f.ret()
		r.Customer.ID = "C-same"
		if i == 4 {
			r.Status = domain.StatusCancelled
		}
		project(t, s, 1, r)
	}
	h, err := s.CustomerHistory(ctx, "C-same", "P0", t0.Add(-time.Hour))
	if err != nil || h.Returns != 3 || h.Value != 30000 {
		t.Fatalf("history (excluding P0 and the cancelled one): %+v %v", h, err)
	}
	var ids []string
	token := ""
	for {
		page, next, err := s.List(ctx, Filter{CustomerID: "C-same"}, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if fmt.Sprint(ids) != "[P4 P3 P2 P1 P0]" {
		t.Fatalf("pages: %v", ids)
	}
	if page, _, _ := s.List(ctx, Filter{SKU: "SKU-A", Status: "cancelled"}, 10, ""); len(page) != 1 || page[0].ID != "P4" {
		t.Fatalf("filter: %+v", page)
	}
	if _, _, err := s.List(ctx, Filter{}, 10, "garbage!"); err == nil {
		t.Fatal("bad token accepted")
	}
}
