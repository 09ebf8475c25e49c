package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// shipAndInspectFrom is shipAndInspect starting at offset.
func (h *harness) shipAndInspectFrom(offset time.Duration, in workflows.InspectionInput) {
	h.at(offset+time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Actor: "customer", Method: domain.ShippingPickup})
	})
	h.at(offset+2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(offset+20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(offset+21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(offset+22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, in) })
}

func TestInspectionPartlyFails(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(map[string]domain.InspectionResult{"L1": domain.InspectionPass, "L2": domain.InspectionFail})
	r := h.run(request(
		line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionRefund),
		line("L2", "SKU-LAMP", 9900, domain.ReasonDefective, domain.ResolutionRefund),
	))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "only the passed line is refunded")
	require.Equal(t, "L1", h.pay.Entries(activities.PayRefund)[0].LineID)
	require.Nil(t, r.Lines[1].Refund)
	require.Equal(t, int64(19900), r.RefundTotal.Amount)
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "inspection_failed")
	for _, n := range h.notes.All() {
		if n.Template == "inspection_failed" {
			require.Equal(t, "L2", n.Params["line_id"])
			require.Equal(t, "return_to_customer,dispose,dispute", n.Params["options"], "the customer is told their options")
		}
	}
	require.Equal(t, activities.MovementQuarantine, h.inv.Moves[1].To)
}

func TestInspectionReclassifiesReason(t *testing.T) {
	h := newHarness(t)
	in := workflows.InspectionInput{Actor: "warehouse:w1", Items: []workflows.InspectionItem{
		{LineID: "L1", Result: domain.InspectionPass, Disposition: domain.DispositionRestock, Note: "no defect found", Reason: domain.ReasonChangedMind},
	}}
	h.shipAndInspectFrom(0, in)
	r := h.run(request())
	require.Equal(t, domain.ReasonChangedMind, r.Lines[0].Reason)
	require.Equal(t, domain.ReasonDefective, r.Lines[0].Inspection.ReclassifiedFrom)
	require.Equal(t, []int64{19900 - 1000 - 1200}, h.ledger(activities.PayRefund), "the new reason's fees apply")
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "reason_reclassified")
}

func TestInspectionSLABreachEscalatesAndCompensates(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() {
		s := h.status()
		require.Equal(t, "inspection", s.Deadline.Kind)
		require.Equal(t, t0.Add(44*time.Hour), s.Deadline.At, "24h from delivery to the warehouse")
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn)
		h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"})
	})
	h.at(45*time.Hour, func() {
		require.Equal(t, []string{"inspection"}, h.status().SLABreaches)
		require.Contains(t, h.notes.Templates(activities.ToSupport), "inspection_escalated")
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
	require.Equal(t, []int64{500}, h.ledger(activities.PayCoupon), "compensation coupon for the merchant's breach")
	require.Equal(t, "RMA-T1/sla-compensation", h.pay.Entries(activities.PayCoupon)[0].Key)
	require.Equal(t, int64(500), r.Compensation.Amount)
}

func TestExchangeFromReservedStock(t *testing.T) {
	h := newHarness(t)
	h.at(time.Second, func() { require.Equal(t, 4, h.inv.Stock["SKU-RED-L"]) })
	h.shipAndInspect(allPass)
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.NotEmpty(t, r.ReplacementTrackingNumber)
	require.Equal(t, r.ReplacementTrackingNumber, r.Lines[0].Replacement.TrackingNumber)
	require.Equal(t, []string{"RMA-T1/L1"}, h.inv.Commits)
	require.Len(t, h.carrier.Shipped, 1)
	require.Equal(t, activities.ShipReplacement, h.carrier.Shipped[0].Purpose)
	require.Equal(t, "SKU-RED-L", h.carrier.Shipped[0].SKU)
	require.Empty(t, h.pay.Ledger, "same price: no money moves")
	require.Contains(t, r.Stages, "replacement_shipped")
	require.Equal(t, 6, h.inv.Stock["SKU-RED-M"], "returned item restocked")
}

func TestExchangeOutOfStock(t *testing.T) {
	cases := []struct {
		name   string
		choice *workflows.ExchangeChoiceInput // nil: no answer, policy default
		check  func(t *testing.T, h *harness, r domain.Return)
	}{
		{"wait for restock", &workflows.ExchangeChoiceInput{Choice: domain.ChoiceWait}, func(t *testing.T, h *harness, r domain.Return) {
			require.True(t, r.Lines[0].Replacement.Backordered)
			require.True(t, r.Lines[0].Replacement.Shipped)
			require.Equal(t, "SKU-RED-L", h.carrier.Shipped[0].SKU)
			require.Empty(t, h.pay.Ledger)
		}},
		{"other variant", &workflows.ExchangeChoiceInput{Choice: domain.ChoiceVariant, SKU: "SKU-RED-XL"}, func(t *testing.T, h *harness, r domain.Return) {
			require.Equal(t, "SKU-RED-XL", h.carrier.Shipped[0].SKU)
			require.Equal(t, []int64{2000}, h.ledger(activities.PayCharge), "dearer variant: difference charged")
		}},
		{"refund instead", &workflows.ExchangeChoiceInput{Choice: domain.ChoiceRefund}, func(t *testing.T, h *harness, r domain.Return) {
			require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
			require.Empty(t, h.carrier.Shipped)
		}},
		{"store credit instead", &workflows.ExchangeChoiceInput{Choice: domain.ChoiceStoreCredit}, func(t *testing.T, h *harness, r domain.Return) {
			require.Equal(t, []int64{19900}, h.ledger(activities.PayStoreCredit))
			require.Empty(t, h.ledger(activities.PayRefund))
			require.Equal(t, domain.ResolutionStoreCredit, r.Lines[0].RefundMethod)
		}},
		{"no answer: default refund at the deadline", nil, func(t *testing.T, h *harness, r domain.Return) {
			require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
			require.Contains(t, timelineTypes(r), "exchange_default")
			require.Contains(t, h.notes.Templates(activities.ToCustomer), "choice_reminder")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.inv.Stock["SKU-RED-L"] = 0
			h.inv.ETA["SKU-RED-L"] = t0.Add(10 * 24 * time.Hour)
			h.at(time.Hour, func() {
				s := h.status()
				require.Equal(t, domain.StatusAwaitingChoice, s.Status)
				require.Equal(t, "exchange_choice", s.Deadline.Kind)
				require.Equal(t, t0.Add(48*time.Hour), s.Deadline.At)
				if c.choice != nil {
					h.mustUpdate(workflows.UpdateExchangeChoice, *c.choice)
				}
			})
			offset := time.Hour
			if c.choice == nil {
				offset = 49 * time.Hour
			}
			h.shipAndInspectFrom(offset, inspection(allPass))
			r := h.run(exchangeStandard())
			require.Equal(t, domain.StatusCompleted, r.Status)
			for _, n := range h.notes.All() {
				if n.Template == "out_of_stock" {
					require.Equal(t, domain.FormatTime(t0.Add(10*24*time.Hour)), n.Params["restock_eta"])
					require.Contains(t, n.Params["alternatives"], "SKU-RED-XL")
				}
			}
			c.check(t, h, r)
		})
	}
}

func TestPriceDifference(t *testing.T) {
	t.Run("dearer replacement: charged", func(t *testing.T) {
		h := newHarness(t)
		h.shipAndInspect(allPass)
		r := h.run(exchangeRequestAuto("SKU-RED-XL"))
		require.Equal(t, []int64{2000}, h.ledger(activities.PayCharge))
		require.Equal(t, "RMA-T1/L1/price-difference", h.pay.Entries(activities.PayCharge)[0].Key)
		require.Empty(t, h.ledger(activities.PayRefund))
		require.Equal(t, int64(2000), r.Lines[0].Replacement.PriceDiff.Amount)
	})
	t.Run("cheaper replacement: refunded after inspection", func(t *testing.T) {
		h := newHarness(t)
		h.at(21*time.Hour+30*time.Minute, func() { require.Empty(t, h.pay.Ledger, "nothing refunded before inspection") })
		h.shipAndInspect(allPass)
		r := h.run(exchangeRequestAuto("SKU-BLUE-L"))
		require.Equal(t, []int64{2000}, h.ledger(activities.PayRefund))
		require.Equal(t, "RMA-T1/L1/price-difference-refund", h.pay.Entries(activities.PayRefund)[0].Key)
		require.Empty(t, h.ledger(activities.PayCharge))
		require.Equal(t, int64(-2000), r.Lines[0].Replacement.PriceDiff.Amount)
	})
}

func exchangeRequestAuto(to string) domain.Request {
	r := exchangeStandard()
	r.Lines[0].ExchangeSKU = to
	return r
}

func TestAdvanceExchangeHoldCapturedWhenReturnNeverArrives(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		s := h.status()
		require.True(t, s.Lines[0].Replacement.Shipped, "VIP gets the replacement before sending anything back")
		require.Equal(t, []int64{19900}, h.ledger(activities.PayHold))
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(time.Hour, func() {
		res := h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
		h.at(time.Minute, func() {
			require.ErrorContains(t, res.rejected, "the replacement for line L1 has shipped")
		})
	})
	r := h.run(vip(exchangeStandard()))
	require.Equal(t, domain.StatusExpired, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayCapture), "hold captured: the return never arrived")
	require.Equal(t, "RMA-T1/L1/advance-hold", h.pay.Entries(activities.PayCapture)[0].HoldKey)
	require.Empty(t, h.ledger(activities.PayVoidHold))
	require.True(t, r.Lines[0].Replacement.HoldCaptured)
	require.Empty(t, h.inv.Released, "a shipped replacement is not released")
	require.Len(t, h.carrier.Voided, 1)
}

func TestAdvanceExchangeHoldVoidedWhenReturnPasses(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(allPass)
	r := h.run(vip(exchangeStandard()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayVoidHold))
	require.Empty(t, h.ledger(activities.PayCapture))
	require.Len(t, h.carrier.Shipped, 1, "replacement shipped once, in advance")
}

func TestRepairRoute(t *testing.T) {
	h := newHarness(t)
	in := workflows.InspectionInput{Actor: "warehouse:w1", Items: []workflows.InspectionItem{{LineID: "L1", Result: domain.InspectionPass, Disposition: domain.DispositionRepair}}}
	h.shipAndInspectFrom(0, in)
	h.at(23*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusResolving, s.Status)
		require.Equal(t, "repair", s.Deadline.Kind)
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn)
		h.mustUpdate(workflows.UpdateRepairDone, workflows.RepairDoneInput{Actor: "warehouse:w1", LineID: "L1", Note: "new switch"})
	})
	r := h.run(request(line("L1", "SKU-LAMP", 9900, domain.ReasonDefective, domain.ResolutionRepair)))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, activities.MovementRepairIntake, h.inv.Moves[0].To)
	require.Len(t, h.carrier.Shipped, 1)
	require.Equal(t, activities.ShipRepairReturn, h.carrier.Shipped[0].Purpose)
	require.Equal(t, h.carrier.Shipped[0].Key, "RMA-T1/L1/repair-return")
	require.NotEmpty(t, r.Lines[0].OutboundTracking)
	require.Empty(t, h.pay.Ledger)
}

func TestReshipMissingItemWithoutReturn(t *testing.T) {
	h := newHarness(t)
	r := h.run(request(line("L1", "SKU-LAMP", 9900, domain.ReasonMissingParts, domain.ResolutionReship)))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Labels, "nothing comes back")
	require.Len(t, h.carrier.Shipped, 1)
	require.Equal(t, activities.ShipReship, h.carrier.Shipped[0].Purpose)
	require.Equal(t, 4, h.inv.Stock["SKU-LAMP"])
	require.Empty(t, h.pay.Ledger)
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "reshipped")
}
