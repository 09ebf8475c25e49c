package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// TestHistoryBudget runs a heavy return (three lines, a request for info, an
// out-of-stock choice, carrier noise, an inspection breach) and bounds its
// history from what it actually scheduled. Each activity costs at most 6
// events (scheduled, started, completed and a workflow task), each timer 5,
// each update or signal 5. Temporal warns at 10,240 events / 10 MB and fails
// at 51,200 / 50 MB; a return must stay an order of magnitude below the
// warning.
func TestHistoryBudget(t *testing.T) {
	h := newHarness(t)
	h.inv.Stock["SKU-RED-L"] = 0
	var activities, timers, payload int
	h.env.SetOnActivityStartedListener(func(_ *activity.Info, _ context.Context, args converter.EncodedValues) {
		activities++
		var raw any
		if args.HasValues() {
			_ = args.Get(&raw)
		}
		p, _ := converter.GetDefaultDataConverter().ToPayload(raw)
		payload += p.Size()
	})
	h.env.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateRequestInfo, workflows.RequestInfoInput{Actor: "support:amy", Question: "photos?"})
	})
	h.at(2*time.Hour, func() { h.mustUpdate(workflows.UpdateInfo, workflows.InfoInput{Answer: "attached"}) })
	h.at(3*time.Hour, func() { h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "support:amy"}) })
	h.at(4*time.Hour, func() {
		h.mustUpdate(workflows.UpdateExchangeChoice, workflows.ExchangeChoiceInput{Choice: domain.ChoiceVariant, SKU: "SKU-RED-XL"})
	})
	h.at(5*time.Hour, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(6*time.Hour, func() {
		h.carrierEvent(domain.CarrierPickedUp, "")
		for i := 0; i < 10; i++ {
			h.carrierEvent(domain.CarrierInTransit, "hub")
		}
	})
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(50*time.Hour, func() {
		h.mustUpdate(workflows.UpdateInspection, inspection(map[string]domain.InspectionResult{"L1": "pass", "L2": "pass", "L3": "fail"}))
	})
	ex := line("L1", "SKU-RED-M", 19900, domain.ReasonSizeFit, domain.ResolutionExchange)
	ex.ExchangeSKU = "SKU-RED-L"
	req := request(ex, line("L2", "SKU-LAMP", 9900, domain.ReasonChangedMind, domain.ResolutionRefund),
		line("L3", "SKU-LAMP", 9900, domain.ReasonOther, domain.ResolutionStoreCredit))
	req.Kind = domain.KindExchange
	r := h.run(req)
	require.Equal(t, domain.StatusCompleted, r.Status)

	updatesAndSignals := 9 + 12 + 1
	events := 3 + 6*activities + 5*timers + 5*updatesAndSignals
	t.Logf("heavy return: %d activities, %d timers, %d updates/signals => at most %d events; activity input payloads %d bytes",
		activities, timers, updatesAndSignals, events, payload)
	require.Less(t, events, 1024, "an order of magnitude under Temporal's 10,240-event warning")
	require.Less(t, payload, 1<<20, "an order of magnitude under the 10 MB warning")
}
