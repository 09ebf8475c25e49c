package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

// The BI views answer exact values on a crafted dataset, and the BI role
// reads them and nothing else.
func TestBIViews(t *testing.T) {
	s := newStore(t)
	h := time.Hour
	day2 := t0.Add(24 * h)
	r1 := fixture{id: "B1", status: domain.StatusCompleted, created: t0, survey: 4,
		stages: map[string]time.Duration{"requested": 0, "review_requested": 0, "approved": h, "picked_up": 2 * h, "delivered": 20 * h, "inspected": 21 * h, "refunded": 22 * h},
		lines:  []domain.LineState{line("L1", "SKU-A", "B1", domain.ReasonDefective, domain.InspectionPass), line("L2", "SKU-B", "B1", domain.ReasonSizeFit, domain.InspectionFail)}}.ret()
	r1.Payments = []domain.PaymentRecord{
		{Key: "B1/L1/refund", Kind: "refund", LineID: "L1", Amount: cny(10000), At: t0.Add(22 * h)},
		{Key: "B1/sla-compensation", Kind: "coupon", Amount: cny(500), At: t0.Add(23 * h)},
		{Key: "B1/L1/price-difference", Kind: "charge", LineID: "L1", Amount: cny(2000), At: t0.Add(h)},
	}
	r1.FeesTotal = cny(300)
	r1.Lines[1].Reason, r1.Lines[1].Inspection.ReclassifiedFrom = domain.ReasonChangedMind, domain.ReasonSizeFit
	r2 := fixture{id: "B2", status: domain.StatusDeclined, created: t0.Add(2 * h), breaches: []string{"review_reply"}, survey: 1,
		stages: map[string]time.Duration{"requested": 0, "review_requested": 0}, lines: []domain.LineState{line("L1", "SKU-A", "B2", domain.ReasonChangedMind, "")}}.ret()
	r3 := fixture{id: "B3", status: domain.StatusCompleted, created: day2, stages: map[string]time.Duration{"requested": 0, "refunded": 3 * h},
		lines: []domain.LineState{line("L1", "SKU-C", "B9", domain.ReasonDefective, domain.InspectionPass)}}.ret()
	r3.PolicyVersion = 2
	for i, r := range []domain.Return{r1, r2, r3} {
		project(t, s, int64(i+1), r)
	}
	ctx := context.Background()
	q := func(query string, dest ...any) {
		t.Helper()
		if err := s.db.QueryRowContext(ctx, query).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}

	var returns, completed, declined, reviewed, breached, refunded, fees int64
	var sat float64
	q(`SELECT returns, completed, declined, reviewed, sla_breached, refunded, fees, satisfaction_avg FROM rma_kpi_daily_v1 WHERE day = '2026-11-01'`,
		&returns, &completed, &declined, &reviewed, &breached, &refunded, &fees, &sat)
	if returns != 2 || completed != 1 || declined != 1 || reviewed != 2 || breached != 1 || refunded != 10000 || fees != 300 || sat != 2.5 {
		t.Fatalf("kpi day 1: %d %d %d %d %d %d %d %v", returns, completed, declined, reviewed, breached, refunded, fees, sat)
	}
	q(`SELECT returns, refunded FROM rma_kpi_daily_v1 WHERE day = '2026-11-02'`, &returns, &refunded)
	if returns != 1 || refunded != 10000 {
		t.Fatalf("kpi day 2: %d %d", returns, refunded)
	}

	var processing float64
	var version sql.NullInt64
	var final, slaBreached bool
	q(`SELECT processing_seconds, policy_version, final, sla_breached FROM rma_returns_v1 WHERE rma_id = 'B1'`, &processing, &version, &final, &slaBreached)
	if processing != 22*3600 || version.Valid || !final || slaBreached {
		t.Fatalf("B1: %v %v %v %v", processing, version, final, slaBreached)
	}
	q(`SELECT policy_version FROM rma_returns_v1 WHERE rma_id = 'B3'`, &version)
	if version.Int64 != 2 {
		t.Fatalf("B3 policy version %v", version)
	}

	var lines, value, reclassified int64
	q(`SELECT count(*), sum(line_value), count(*) FILTER (WHERE reclassified) FROM rma_lines_v1 WHERE rma_id = 'B1'`, &lines, &value, &reclassified)
	if lines != 2 || value != 20000 || reclassified != 1 {
		t.Fatalf("B1 lines: %d %d %d", lines, value, reclassified)
	}

	var out, in int64
	var movements int
	q(`SELECT count(*), coalesce(sum(amount) FILTER (WHERE direction = 'out'), 0), coalesce(sum(amount) FILTER (WHERE direction = 'in'), 0) FROM rma_money_v1 WHERE rma_id = 'B1'`, &movements, &out, &in)
	if movements != 3 || out != 10500 || in != 2000 {
		t.Fatalf("B1 money: %d out %d in %d", movements, out, in)
	}

	// The BI role: every view, no table, no write.
	role := fmt.Sprintf("rma_bi_t%d", os.Getpid())
	created, err := s.EnsureBIRole(ctx, role, "a-long-bi-password-123")
	if err != nil || !created {
		t.Fatalf("bi role: %v %v", created, err)
	}
	if again, err := s.EnsureBIRole(ctx, role, "a-long-bi-password-123"); err != nil || again {
		t.Fatalf("bi role again: %v %v", again, err)
	}
	t.Cleanup(func() {
		var db string
		_ = s.db.QueryRow(`SELECT current_database()`).Scan(&db)
		for _, stmt := range []string{"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + role, "REVOKE USAGE ON SCHEMA public FROM " + role,
			"REVOKE CONNECT ON DATABASE " + db + " FROM " + role, "DROP ROLE " + role} {
			_, _ = s.db.Exec(stmt)
		}
	})
	var db string
	q(`SELECT current_database()`, &db)
	bi, err := sql.Open("postgres", strings.Replace(s.url, "postgres://rma@", "postgres://"+role+":a-long-bi-password-123@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer bi.Close()
	for _, v := range BIViews() {
		var n int
		if err := bi.QueryRow(`SELECT count(*) FROM ` + v).Scan(&n); err != nil {
			t.Fatalf("the BI role reading %s: %v", v, err)
		}
	}
	for _, stmt := range []string{`SELECT count(*) FROM returns`, `SELECT count(*) FROM audit`, `DELETE FROM returns`} {
		if _, err := bi.Exec(stmt); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("the BI role ran %q: %v", stmt, err)
		}
	}
	if _, err := s.EnsureBIRole(ctx, "Bad Role", "a-long-bi-password-123"); err == nil {
		t.Fatal("a bad role name was accepted")
	}
	if _, err := s.EnsureBIRole(ctx, "rma", "a-long-bi-password-123"); err == nil || !strings.Contains(err.Error(), "other rights") {
		t.Fatalf("rma's own role as the BI role: %v", err)
	}
	_ = db
}
