package workflows_test

import (
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/activities/memport"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/worker"
	"github.com/rma-dev/rma/workflows"
)

const rmaID = "RMA-T1"

// t0 is the test clock's start; orders were delivered two days before. It
// lies in the far future on purpose: the SDK's test environment computes a
// retried local activity's deadline from the test clock but checks it
// against the real one, so a test clock behind the wall clock would time
// out every retry.
var (
	t0        = time.Date(2100, 11, 22, 2, 0, 0, 0, time.UTC)
	delivered = t0.Add(-48 * time.Hour)
)

func cny(a int64) domain.Money { return domain.Money{Amount: a, Currency: "CNY"} }

// harness runs the real Return workflow with the real activities over the
// in-memory ports, on the SDK's time-skipping test environment.
type harness struct {
	t       testing.TB
	suite   testsuite.WorkflowTestSuite
	env     *testsuite.TestWorkflowEnvironment
	carrier *memport.Carrier
	inv     *memport.Inventory
	pay     *memport.Payments
	store   *memport.Store
	notes   notes
	policy  domain.Policy
	history domain.CustomerHistory
	// features is StartInput.Features (0: a return started before them).
	features int
	events   int
	result   domain.Return
	// musts are the updates that must complete without error; run checks
	// them all, so one the workflow never answered fails the test too.
	musts []*updResult
}

// notes reads the notices the workflow put in the outbox.
type notes struct{ s *memport.Store }

func (n notes) Templates(to string) []string   { return n.s.Templates(to) }
func (n notes) All() []activities.Notification { return n.s.Notices() }

type updResult struct {
	name      string
	rejected  error
	completed bool
	err       error
	result    workflows.CommandResult
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, carrier: &memport.Carrier{}, inv: memport.NewInventory(), pay: &memport.Payments{},
		store: &memport.Store{}, policy: domain.Defaults()}
	h.notes = notes{h.store}
	h.suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	h.env = h.suite.NewTestWorkflowEnvironment()
	h.env.SetStartTime(t0)
	for sku, price := range map[string]int64{"SKU-RED-M": 19900, "SKU-RED-L": 19900, "SKU-RED-XL": 21900, "SKU-BLUE-L": 17900, "SKU-LAMP": 9900} {
		h.inv.Prices[sku] = cny(price)
		h.inv.Stock[sku] = 5
	}
	worker.Register(h.env, &activities.Activities{Carrier: h.carrier, Inventory: h.inv, Payments: h.pay, Store: h.store})
	return h
}

// request is a standard customer's defective item with a photo: the
// merchant's fault with evidence, so policy auto-approves it.
func request(lines ...domain.Line) domain.Request {
	if len(lines) == 0 {
		lines = []domain.Line{line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionRefund)}
	}
	return domain.Request{OrderID: "SO-1001", Kind: domain.KindReturn, DeliveredAt: delivered, Channel: domain.ChannelWeb,
		Customer: domain.Customer{ID: "C-1", Tier: domain.TierStandard, Locale: domain.LocaleZhCN, Email: "c1@example.com"}, Lines: lines}
}

func line(id, sku string, price int64, reason domain.Reason, res domain.Resolution) domain.Line {
	l := domain.Line{LineID: id, SKU: sku, Batch: "B2026-11", Quantity: 1, UnitPrice: cny(price), Reason: reason, Resolution: res}
	if reason.MerchantFault() {
		l.Photos = []string{"https://img.example/" + id + ".jpg"}
	}
	return l
}

func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

// asRole stamps the first role the command needs, as the API does from the
// caller's token, unless the test set roles itself.
func asRole(name string, arg any) any {
	v := reflect.New(reflect.TypeOf(arg))
	v.Elem().Set(reflect.ValueOf(arg))
	if f := v.Elem().FieldByName("ActorRoles"); f.IsValid() && f.Len() == 0 {
		v.Interface().(interface{ SetActorRoles([]string) }).SetActorRoles(workflows.CommandRoles(name)[:1])
	}
	return v.Elem().Interface()
}

func (h *harness) updateID(name, id string, arg any) *updResult {
	arg = asRole(name, arg)
	res := &updResult{name: name}
	h.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnReject: func(err error) { res.rejected = err },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			res.completed, res.err = true, err
			if r, ok := v.(workflows.CommandResult); ok {
				res.result = r
			}
		},
	}, arg)
	return res
}

var updateSeq int

func (h *harness) update(name string, arg any) *updResult {
	updateSeq++
	return h.updateID(name, fmt.Sprintf("upd-%d", updateSeq), arg)
}

// mustUpdate sends an update and fails the test unless it is accepted (a
// second later) and completes without error (when the run ends: a command is
// answered once its effect is published, which may come after a partner's
// retries, and a final command such as cancel ends the workflow first).
func (h *harness) mustUpdate(name string, arg any) {
	res := h.update(name, arg)
	h.musts = append(h.musts, res)
	h.env.RegisterDelayedCallback(func() { require.Nil(h.t, res.rejected, "%s rejected", name) }, time.Second)
}

func (h *harness) checkMust(res *updResult) {
	require.Nil(h.t, res.rejected, "%s rejected", res.name)
	require.True(h.t, res.completed, "%s did not complete", res.name)
	require.NoError(h.t, res.err, res.name)
}

func (h *harness) status() domain.Return {
	v, err := h.env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(h.t, err)
	var r domain.Return
	require.NoError(h.t, v.Get(&r))
	return r
}

// carrierEvent scans the return parcel as the webhook delivers it: the event
// is stored, then signalled to the return its parcel is routed to.
func (h *harness) carrierEvent(typ domain.CarrierEventType, detail string) {
	h.scan(h.status().TrackingNumber, typ, detail)
}

func (h *harness) scan(tracking string, typ domain.CarrierEventType, detail string) {
	h.events++
	ev := workflows.CarrierEvent{EventID: fmt.Sprintf("ev-%d", h.events), TrackingNumber: tracking, Type: typ, OccurredAt: h.env.Now(), Detail: detail}
	if h.store.Record(activities.TrackingEvent{EventID: ev.EventID, TrackingNumber: tracking, Type: typ, OccurredAt: ev.OccurredAt, Detail: detail}) != "" {
		h.env.SignalWorkflow(workflows.SignalCarrierEvent, ev)
	}
}

func (h *harness) start(req domain.Request) {
	h.env.ExecuteWorkflow(workflows.WorkflowType, workflows.StartInput{RMAID: rmaID, Request: req, Policy: h.policy, Actor: "backend:test", RequestedAt: t0, History: h.history, Features: h.features})
}

func (h *harness) run(req domain.Request) domain.Return {
	h.start(req)
	require.True(h.t, h.env.IsWorkflowCompleted(), "workflow did not complete")
	require.NoError(h.t, h.env.GetWorkflowError())
	var out workflows.Outcome
	require.NoError(h.t, h.env.GetWorkflowResult(&out))
	for _, m := range h.musts {
		h.checkMust(m)
	}
	h.result = h.store.View(rmaID)
	require.Equal(h.t, out.Status, h.result.Status, "the read model has the final state")
	require.Equal(h.t, out.Seq, h.result.Seq)
	return h.result
}

// projected is the last state written to the read model.
func (h *harness) projected() domain.Return { return h.store.View(rmaID) }

// shipAndInspect plays the customer, carrier and warehouse for a return
// approved at once: pickup chosen, picked up, delivered, received and every
// returned line inspected with the given results.
func (h *harness) shipAndInspect(results map[string]domain.InspectionResult) {
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Actor: "customer", Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(results)) })
}

// shipAndInspectWith is shipAndInspect with the inspection the test makes.
func (h *harness) shipAndInspectWith(in func() workflows.InspectionInput) {
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Actor: "customer", Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, in()) })
}

func inspection(results map[string]domain.InspectionResult) workflows.InspectionInput {
	in := workflows.InspectionInput{Actor: "warehouse:w1"}
	for _, id := range []string{"L1", "L2", "L3"} {
		res, ok := results[id]
		if !ok {
			continue
		}
		d := domain.DispositionRestock
		if res == domain.InspectionFail {
			d = domain.DispositionQuarantine
		}
		in.Items = append(in.Items, workflows.InspectionItem{LineID: id, Result: res, Disposition: d, Note: "checked"})
	}
	return in
}

var allPass = map[string]domain.InspectionResult{"L1": domain.InspectionPass}

func (h *harness) ledger(kind string) []int64 {
	var out []int64
	for _, e := range h.pay.Entries(kind) {
		out = append(out, e.Amount.Amount)
	}
	return out
}

func timelineTypes(r domain.Return) []string {
	var out []string
	for _, e := range r.Timeline {
		out = append(out, e.Type)
	}
	return out
}

// failures records what a test helper reports instead of failing the test
// running it, so a test can check that the helper does fail.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *failures) FailNow() { runtime.Goexit() }
func (f *failures) Helper()  {}

// A refused command sent just before the workflow ends (here the shipping
// choice expires half a second later) must fail the test even though the
// one-second check never runs.
func TestHarnessFailsARefusedLastCommand(t *testing.T) {
	rec := &failures{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := newHarness(rec)
		h.at(72*time.Hour-500*time.Millisecond, func() {
			h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) // no label: refused
		})
		h.run(request())
	}()
	<-done
	require.NotEmpty(t, rec.msgs, "the harness let a refused command pass")
	require.Contains(t, strings.Join(rec.msgs, "\n"), "receive rejected")
}
