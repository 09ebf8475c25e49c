package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func TestReturnlessRefund(t *testing.T) {
	h := newHarness(t)
	r := h.run(request(line("L1", "SKU-LAMP", 2500, domain.ReasonDamagedInTransit, domain.ResolutionKeep)))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.True(t, r.Lines[0].Returnless)
	require.Equal(t, []int64{2500}, h.ledger(activities.PayRefund))
	require.Empty(t, h.carrier.Labels, "nothing travels back")
	require.Empty(t, r.TrackingNumber)
	require.Nil(t, r.Lines[0].Inspection)
}

func TestKeepAboveThresholdMustComeBack(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(allPass)
	r := h.run(request(line("L1", "SKU-LAMP", 9900, domain.ReasonDamagedInTransit, domain.ResolutionKeep)))
	require.False(t, r.Lines[0].Returnless)
	require.Len(t, h.carrier.Labels, 1)
	require.Equal(t, []int64{9900}, h.ledger(activities.PayRefund))
	require.Contains(t, timelineTypes(r), "returnless_refused")
}

func vip(req domain.Request) domain.Request {
	req.Customer.Tier = domain.TierVIP
	return req
}

func TestVIPRefundAtFirstCarrierScan(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() {
		require.Empty(t, h.pay.Ledger)
		h.carrierEvent(domain.CarrierPickedUp, "")
	})
	h.at(3*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusInTransit, s.Status)
		require.Equal(t, []int64{19900 - 1000 - 1200}, h.ledger(activities.PayRefund), "refunded at first scan, before inspection")
		require.Nil(t, s.Lines[0].Inspection)
	})
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(vip(manual()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{17700}, h.ledger(activities.PayRefund), "still exactly one refund after inspection")
	require.Equal(t, "vip-desk", r.Assignee)
}

// exchangeStandard is an exchange that policy approves at once and that has
// stock: the reservation is what expiry must give back.
func exchangeStandard() domain.Request {
	l := line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionExchange)
	l.ExchangeSKU = "SKU-RED-L"
	r := request(l)
	r.Kind = domain.KindExchange
	return r
}

func TestPickupRemindersThenExpiry(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, "pickup", s.Deadline.Kind)
		require.Equal(t, t0.Add(time.Minute+48*time.Hour), s.Deadline.At)
		require.Equal(t, domain.WaitingCarrier, *s.WaitingOn)
		require.Equal(t, 4, h.inv.Stock["SKU-RED-L"], "replacement reserved")
	})
	h.at(37*time.Hour, func() {
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "pickup_reminder", "12h before the 48h deadline")
	})
	h.at(49*time.Hour, func() {
		s := h.status()
		require.Equal(t, "pickup_buffer", s.Deadline.Kind, "past the deadline the 2-day buffer runs")
		require.Equal(t, domain.StatusAwaitingShipment, s.Status)
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "shipping_overdue")
	})
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusExpired, r.Status)
	require.Equal(t, []string{r.TrackingNumber}, h.carrier.Voided, "label voided")
	require.Equal(t, 5, h.inv.Stock["SKU-RED-L"], "reservation released")
	require.Equal(t, []string{"RMA-T1/L1"}, h.inv.Released)
	require.Empty(t, h.pay.Ledger)
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "expired")
	types := timelineTypes(r)
	require.Contains(t, types, "compensated")
}

func TestLatePickupInsideBufferSucceeds(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(80*time.Hour, func() { // deadline 48h, buffer until 96h
		require.Equal(t, "pickup_buffer", h.status().Deadline.Kind)
		h.carrierEvent(domain.CarrierPickedUp, "picked up late")
	})
	h.at(90*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(91*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(92*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Voided)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
}

func TestSelfShipDropoff(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingDropoff})
	})
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, "dropoff", s.Deadline.Kind)
		require.Equal(t, t0.Add(time.Minute+7*24*time.Hour), s.Deadline.At, "self-ship deadline")
		require.Equal(t, domain.WaitingCustomer, *s.WaitingOn)
		require.Equal(t, domain.ShippingDropoff, h.carrier.Labels[0].Method)
	})
	h.at(6*24*time.Hour+time.Hour, func() {
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "dropoff_reminder")
		h.carrierEvent(domain.CarrierInTransit, "dropped at a parcel shop")
	})
	h.at(7*24*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(7*24*time.Hour+time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(7*24*time.Hour+2*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
}

func TestShippingChoiceNeverMadeExpires(t *testing.T) {
	h := newHarness(t)
	r := h.run(request())
	require.Equal(t, domain.StatusExpired, r.Status)
	require.Equal(t, []string{"choose_shipping", "shipping_choice_reminder", "expired"}, h.notes.Templates(activities.ToCustomer))
	require.Empty(t, h.carrier.Labels)
}

func TestCarrierExceptionOpensClaim(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(5*time.Hour, func() { h.carrierEvent(domain.CarrierInTransit, "hub Shanghai") })
	h.at(30*time.Hour, func() { h.carrierEvent(domain.CarrierException, "parcel damaged at hub") })
	h.at(31*time.Hour, func() {
		s := h.status()
		require.NotEmpty(t, s.ClaimID)
		require.Len(t, h.carrier.Claims, 1)
		c := h.carrier.Claims[0]
		require.Equal(t, s.TrackingNumber, c.TrackingNumber)
		require.Equal(t, "parcel damaged at hub", c.Detail)
		require.Len(t, c.Evidence, 3, "the tracking record is the evidence")
		require.Equal(t, domain.CarrierException, c.Evidence[2].Type)
		require.Equal(t, int64(19900), c.DeclaredValue.Amount)
		require.Contains(t, h.notes.Templates(activities.ToSupport), "carrier_claim_opened")
		require.Equal(t, domain.StatusInTransit, s.Status)
	})
	// The carrier replays the same event, then reports a second exception:
	// still one claim per parcel, and support hears of the new exception.
	h.at(32*time.Hour, func() {
		h.env.SignalWorkflow(workflows.SignalCarrierEvent, workflows.CarrierEvent{EventID: "ev-3", TrackingNumber: h.status().TrackingNumber, Type: domain.CarrierException})
		h.carrierEvent(domain.CarrierException, "still at hub")
	})
	h.at(33*time.Hour, func() {
		require.Equal(t, 2, countType(h.status(), "carrier_exception"), "ev-3 and ev-4 once each: the replay of ev-3 changed nothing")
		require.Contains(t, h.notes.Templates(activities.ToSupport), "carrier_exception")
	})
	// The parcel turns up after all: the return completes, the claim stands.
	h.at(40*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(41*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(42*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Len(t, h.carrier.Claims, 1)
	require.Equal(t, h.carrier.Claims[0].Key, "RMA-T1/carrier-claim")
}

// A worker books the label and writes its route, then loses its workflow
// task (a server restart): the route exists, the workflow does not know the
// label. The carrier's scans are signalled to it meanwhile. They must count
// once the label step runs again and hands them back, not be taken as
// another return's parcel and forgotten: the return would wait in transit
// for a delivery it already had (found by the 1,000-return chaos run on a
// Temporal restart).
func TestScansSignalledBeforeTheLabelIsKnownCountWithTheLabel(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		// What the lost attempt left: the route of the label RT000001.
		h.store.Routes = map[string]activities.Parcel{"RT000001": {TrackingNumber: "RT000001", RMAID: rmaID, Purpose: activities.ParcelReturn}}
		h.scan("RT000001", domain.CarrierPickedUp, "")
		h.scan("RT000001", domain.CarrierDelivered, "")
	})
	h.at(2*time.Minute, func() {
		require.Equal(t, domain.StatusAwaitingShipment, h.status().Status)
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingDropoff})
	})
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, "RT000001", s.TrackingNumber)
		require.Equal(t, 1, countType(s, "carrier_delivered"), "the delivery signalled before the label counts: %v", s.Timeline)
		require.NotNil(t, s.WaitingOn)
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn)
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
}

// A carrier may scan a parcel the instant its label exists, before the label
// step has written the route: the webhook keeps the event unrouted, and the
// label step hands it back with the label, so the pickup is not missed.
func TestScanBeforeTheRouteComesBackWithTheLabel(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		// The memport carrier numbers labels RT000001, ...: the scan of
		// the first one arrives before its route.
		h.scan("RT000001", domain.CarrierPickedUp, "scanned at the counter")
		require.Empty(t, h.store.Routes, "nothing is routed yet")
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingDropoff})
	})
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, "RT000001", s.TrackingNumber)
		require.Equal(t, domain.StatusInTransit, s.Status, "the early scan was applied")
		require.Equal(t, 1, countType(s, "carrier_picked_up"))
		// The carrier retries the event it got a 503 for: a replay, no change.
		h.env.SignalWorkflow(workflows.SignalCarrierEvent, workflows.CarrierEvent{EventID: "ev-1", TrackingNumber: "RT000001", Type: domain.CarrierPickedUp})
	})
	h.at(2*time.Hour, func() {
		require.Equal(t, 1, countType(h.status(), "carrier_picked_up"))
		h.carrierEvent(domain.CarrierDelivered, "")
	})
	h.at(3*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Voided, "not expired")
}
