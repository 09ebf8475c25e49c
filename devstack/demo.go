package devstack

import (
	"context"
	"fmt"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// SeedDemo opens a handful of returns and drives them to different stages
// through the same client and carrier simulator a user would, so the UI has
// something to show: pending review, awaiting shipment, in transit,
// completed, out-of-stock choice and declined. It returns their IDs.
func SeedDemo(ctx context.Context, s *Stack) ([]string, error) {
	now := time.Now().UTC()
	mk := func(order, customer string, tier domain.Tier, kind domain.Kind, l domain.Line) domain.Request {
		return domain.Request{OrderID: order, Kind: kind, DeliveredAt: now.Add(-48 * time.Hour), Channel: domain.ChannelApp,
			Customer: domain.Customer{ID: customer, Tier: tier, Locale: domain.LocaleZhCN, Email: customer + "@example.com"}, Lines: []domain.Line{l}}
	}
	line := func(sku string, price int64, reason domain.Reason, res domain.Resolution) domain.Line {
		l := domain.Line{LineID: "L1", SKU: sku, Batch: "B2026-11", Quantity: 1, UnitPrice: domain.Money{Amount: price, Currency: domain.DefaultCurrency}, Reason: reason, Resolution: res}
		if reason.MerchantFault() {
			l.Photos = []string{"https://img.example/demo-" + sku + ".jpg"}
		}
		return l
	}
	exchange := line("SKU-RED-M", 19900, domain.ReasonSizeFit, domain.ResolutionExchange)
	exchange.ExchangeSKU = "SKU-RED-XXL"
	demos := []struct {
		name  string
		req   domain.Request
		drive func(id string) error
	}{
		{"pending review", mk("DEMO-1001", "C-DEMO-1", domain.TierStandard, domain.KindReturn, line("SKU-RED-M", 19900, domain.ReasonChangedMind, domain.ResolutionRefund)), nil},
		{"awaiting shipment", mk("DEMO-1002", "C-DEMO-2", domain.TierStandard, domain.KindReturn, line("SKU-LAMP", 9900, domain.ReasonDefective, domain.ResolutionRefund)), nil},
		{"in transit", mk("DEMO-1003", "C-DEMO-3", domain.TierStandard, domain.KindReturn, line("SKU-MUG", 2500, domain.ReasonDamagedInTransit, domain.ResolutionRefund)), func(id string) error {
			return s.demoShip(ctx, id, domain.CarrierPickedUp)
		}},
		{"completed", mk("DEMO-1004", "C-DEMO-4", domain.TierVIP, domain.KindReturn, line("SKU-BLUE-M", 17900, domain.ReasonNotAsDescribed, domain.ResolutionRefund)), func(id string) error {
			if err := s.demoShip(ctx, id, domain.CarrierPickedUp, domain.CarrierDelivered); err != nil {
				return err
			}
			if _, err := s.Returns.Update(ctx, id, workflows.UpdateReceive, "", workflows.ReceiveInput{Actor: "warehouse:demo", Acting: as(domain.RoleWarehouse)}); err != nil {
				return err
			}
			_, err := s.Returns.Update(ctx, id, workflows.UpdateInspection, "", workflows.InspectionInput{Actor: "warehouse:demo", Acting: as(domain.RoleWarehouse),
				Items: []workflows.InspectionItem{{LineID: "L1", Result: domain.InspectionPass, Disposition: domain.DispositionRestock}}})
			return err
		}},
		{"out of stock", mk("DEMO-1005", "C-DEMO-5", domain.TierStandard, domain.KindExchange, exchange), nil},
		{"declined", mk("DEMO-1006", "C-DEMO-6", domain.TierStandard, domain.KindReturn, line("SKU-PHONE", 299900, domain.ReasonChangedMind, domain.ResolutionRefund)), func(id string) error {
			if err := s.waitStatus(ctx, id, domain.StatusPendingReview); err != nil {
				return err
			}
			_, err := s.Returns.Update(ctx, id, workflows.UpdateDecline, "", workflows.DeclineInput{Actor: "support:demo", Acting: as(domain.RoleSupport), Reason: "outside policy: opened and used"})
			return err
		}},
	}
	var ids []string
	for _, d := range demos {
		res, err := s.Returns.Create(ctx, "demo-"+d.req.OrderID, d.req, "backend:demo")
		if err != nil {
			return ids, fmt.Errorf("demo %s: %w", d.name, err)
		}
		ids = append(ids, res.Return.ID)
		if d.drive != nil {
			if err := d.drive(res.Return.ID); err != nil {
				return ids, fmt.Errorf("demo %s (%s): %w", d.name, res.Return.ID, err)
			}
		}
	}
	return ids, nil
}

// demoShip chooses pickup, waits for the label and scans the parcel.
func (s *Stack) demoShip(ctx context.Context, id string, scans ...domain.CarrierEventType) error {
	if err := s.waitStatus(ctx, id, domain.StatusAwaitingShipment); err != nil {
		return err
	}
	if _, err := s.Returns.Update(ctx, id, workflows.UpdateShippingChoice, "", workflows.ShippingChoiceInput{Actor: "customer:demo", Acting: as(domain.RoleCustomer), Method: domain.ShippingPickup}); err != nil {
		return err
	}
	r, err := s.waitFor(ctx, id, func(r domain.Return) bool { return r.TrackingNumber != "" })
	if err != nil {
		return err
	}
	for _, scan := range scans {
		if _, _, err := s.Carrier.Send(ctx, r.TrackingNumber, scan, "demo scan"); err != nil {
			return err
		}
	}
	_, err = s.waitFor(ctx, id, func(r domain.Return) bool {
		return r.Status == domain.StatusInTransit || r.Status == domain.StatusReceived
	})
	return err
}

func (s *Stack) waitStatus(ctx context.Context, id string, st domain.Status) error {
	_, err := s.waitFor(ctx, id, func(r domain.Return) bool { return r.Status == st })
	return err
}

// waitFor polls the status query; the demo is a client, not workflow code.
func (s *Stack) waitFor(ctx context.Context, id string, ok func(domain.Return) bool) (domain.Return, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.Returns.Get(ctx, id)
		if err == nil && ok(r) {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("return %s stuck at %s", id, r.Status)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// as is the demo actor's role, checked by the update validators.
func as(role string) workflows.Acting { return workflows.Acting{ActorRoles: []string{role}} }
