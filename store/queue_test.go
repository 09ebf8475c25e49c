package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

// The work queues list what waits on support or the warehouse, soonest
// deadline first, with the time left at the moment of listing, by team
// and assignee.
func TestWorkQueues(t *testing.T) {
	s := newStore(t)
	now := t0.Add(10 * time.Hour)
	put := func(id string, status domain.Status, waiting domain.WaitingOn, deadline time.Duration, team, assignee string, breaches ...string) {
		r := fixture{id: id, status: status, created: t0, breaches: breaches}.ret()
		r.WaitingOn = domain.Wait(waiting)
		if deadline != 0 {
			r.Deadline = domain.DeadlineAt("reply_sla", now.Add(deadline))
		}
		r.Team, r.Assignee = team, assignee
		project(t, s, 1, r)
	}
	put("Q-LATE", domain.StatusPendingReview, domain.WaitingSupport, -2*time.Hour, "returns", "returns", "reply_sla")
	put("Q-SOON", domain.StatusPendingReview, domain.WaitingSupport, time.Hour, "returns", "support:amy")
	put("Q-VIP", domain.StatusPendingReview, domain.WaitingSupport, 30*time.Hour, "returns", "vip-desk")
	put("Q-NONE", domain.StatusNeedsAttention, domain.WaitingSupport, 0, "returns", "returns")
	put("Q-WH", domain.StatusReceived, domain.WaitingWarehouse, 3*time.Hour, "", "")
	put("Q-CUST", domain.StatusAwaitingShipment, domain.WaitingCustomer, time.Hour, "returns", "returns")
	ctx := context.Background()
	ids := func(items []QueueItem) (out []string) {
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	items, err := s.Queue(ctx, QueueFilter{Queue: QueueSupport}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(items); len(got) != 4 || got[0] != "Q-LATE" || got[1] != "Q-SOON" || got[2] != "Q-VIP" || got[3] != "Q-NONE" {
		t.Fatalf("support queue order: %v", got)
	}
	late := items[0]
	if !late.Overdue || late.SecondsLeft == nil || *late.SecondsLeft != -7200 || len(late.SLABreaches) != 1 || late.Team != "returns" || late.DeadlineKind != "reply_sla" {
		t.Fatalf("overdue item: %+v", late)
	}
	if soon := items[1]; soon.Overdue || *soon.SecondsLeft != 3600 || soon.Assignee != "support:amy" {
		t.Fatalf("item due in an hour: %+v", soon)
	}
	if items[3].Deadline != nil || items[3].SecondsLeft != nil {
		t.Fatalf("an item without a deadline has no time left: %+v", items[3])
	}
	if got, _ := s.Queue(ctx, QueueFilter{Queue: QueueSupport, Assignee: "support:amy"}, now); len(got) != 1 || got[0].ID != "Q-SOON" {
		t.Fatalf("by assignee: %v", ids(got))
	}
	if got, _ := s.Queue(ctx, QueueFilter{Queue: QueueSupport, Team: "other"}, now); len(got) != 0 {
		t.Fatalf("by another team: %v", ids(got))
	}
	if got, _ := s.Queue(ctx, QueueFilter{Queue: QueueWarehouse}, now); len(got) != 1 || got[0].ID != "Q-WH" {
		t.Fatalf("warehouse queue: %v", ids(got))
	}
	if _, err := s.Queue(ctx, QueueFilter{Queue: "customer"}, now); !errors.Is(err, ErrBadFilter) {
		t.Fatalf("unknown queue: %v", err)
	}
}

// On-call's lists: open returns past their deadline or with a breached
// SLA, and the ones that cannot go on by themselves, with the last error.
func TestLateAndStuck(t *testing.T) {
	s := newStore(t)
	now := t0.Add(10 * time.Hour)
	put := func(id string, status domain.Status, deadline time.Duration, mut func(*domain.Return)) {
		r := fixture{id: id, status: status, created: t0}.ret()
		if deadline != 0 {
			r.Deadline = domain.DeadlineAt("pickup", now.Add(deadline))
		}
		if mut != nil {
			mut(&r)
		}
		project(t, s, 1, r)
	}
	put("L-PAST", domain.StatusAwaitingShipment, -90*time.Minute, nil)
	put("L-BREACH", domain.StatusPendingReview, 2*time.Hour, func(r *domain.Return) { r.SLABreaches = []string{"reply_sla"} })
	put("L-FINE", domain.StatusAwaitingShipment, time.Hour, nil)
	put("L-DONE", domain.StatusCompleted, -5*time.Hour, func(r *domain.Return) { r.SLABreaches = []string{"inspection"} })
	put("S-ATT", domain.StatusNeedsAttention, 0, func(r *domain.Return) {
		r.Attention = &domain.Attention{Step: "refund-L1", Error: "payments: 503 unavailable", Since: now.Add(-time.Hour), Resume: domain.StatusResolving}
	})
	put("S-CLAIM", domain.StatusInTransit, 5*time.Hour, func(r *domain.Return) { r.ClaimError = "carrier claims API down" })
	ctx := context.Background()
	late, err := s.Late(ctx, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(late) != 2 || late[0].ID != "L-PAST" || late[0].LateSeconds != 5400 || late[1].ID != "L-BREACH" || late[1].LateSeconds != 0 || late[1].SLABreaches[0] != "reply_sla" {
		t.Fatalf("late: %+v", late)
	}
	stuck, err := s.Stuck(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stuck) != 2 || stuck[0].ID != "S-ATT" || stuck[0].Step != "refund-L1" || stuck[0].Error != "payments: 503 unavailable" || stuck[0].Resume != "resolving" ||
		stuck[0].Since == nil || stuck[1].ID != "S-CLAIM" || stuck[1].ClaimError == "" {
		t.Fatalf("stuck: %+v", stuck)
	}
}
