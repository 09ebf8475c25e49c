package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/activities/memport"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

// Carrier simulates the carrier: labels, pickups, outbound shipments and
// claims, and tracking webhooks, signed like a real carrier's, either on its
// own schedule (auto) or only when triggered (manual).
type Carrier struct {
	Faults
	Engine     *memport.Carrier
	WebhookURL string
	Secret     []byte
	// Auto plays picked_up, in_transit and delivered Step apart after each
	// label (and in_transit, delivered after each outbound shipment).
	Auto bool
	Step time.Duration
	Log  *zap.Logger

	mu     sync.Mutex
	seq    int
	hc     *http.Client
	timers []*time.Timer
}

// NewCarrier builds a carrier simulator posting to webhookURL.
func NewCarrier(webhookURL string, secret []byte, auto bool, step time.Duration, log *zap.Logger) *Carrier {
	return &Carrier{
		Engine:     &memport.Carrier{Prefix: strconv.FormatInt(time.Now().Unix()%1_000_000, 36)},
		WebhookURL: webhookURL, Secret: secret, Auto: auto, Step: step, Log: log,
		hc: &http.Client{Timeout: 10 * time.Second},
	}
}

// Handler serves the carrier contract.
func (s *Carrier) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/labels", func(w http.ResponseWriter, r *http.Request) {
		var req activities.LabelRequest
		if !decode(w, r, &req) {
			return
		}
		before := len(s.Engine.Snapshot().Labels)
		l, err := s.Engine.CreateLabel(r.Context(), req)
		if err == nil && s.Auto && len(s.Engine.Snapshot().Labels) > before {
			s.play(l.TrackingNumber, domain.CarrierPickedUp, domain.CarrierInTransit, domain.CarrierDelivered)
		}
		reply(w, http.StatusCreated, l, err)
	})
	mux.HandleFunc("POST /v1/labels/{tracking}/void", func(w http.ResponseWriter, r *http.Request) {
		var req activities.VoidLabelRequest
		if decode(w, r, &req) {
			reply(w, http.StatusOK, map[string]bool{"voided": true}, s.Engine.VoidLabel(r.Context(), req))
		}
	})
	mux.HandleFunc("POST /v1/shipments", func(w http.ResponseWriter, r *http.Request) {
		var req activities.ShipRequest
		if !decode(w, r, &req) {
			return
		}
		before := len(s.Engine.Snapshot().Shipped)
		sh, err := s.Engine.Ship(r.Context(), req)
		if err == nil && s.Auto && len(s.Engine.Snapshot().Shipped) > before {
			s.play(sh.TrackingNumber, domain.CarrierInTransit, domain.CarrierDelivered)
		}
		reply(w, http.StatusCreated, sh, err)
	})
	mux.HandleFunc("POST /v1/claims", func(w http.ResponseWriter, r *http.Request) {
		var req activities.ClaimRequest
		if decode(w, r, &req) {
			c, err := s.Engine.OpenClaim(r.Context(), req)
			reply(w, http.StatusCreated, c, err)
		}
	})
	mux.HandleFunc("GET /v1/parcels", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Engine.Snapshot()) })
	// Manual trigger: the carrier scans a parcel now and sends the webhook.
	mux.HandleFunc("POST /v1/parcels/{tracking}/events", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Type   domain.CarrierEventType `json:"type"`
			Detail string                  `json:"detail"`
		}
		if !decode(w, r, &body) {
			return
		}
		if !body.Type.Valid() {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_type", "type must be picked_up, in_transit, delivered, exception or claim_settled")
			return
		}
		ev, status, err := s.Send(r.Context(), r.PathValue("tracking"), body.Type, body.Detail)
		if err != nil {
			writeErr(w, http.StatusBadGateway, "webhook_failed", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"event": ev, "webhook_status": status})
	})
	return s.wrap("carrier", s.Log, byPattern(map[string]string{
		"POST /v1/labels": "label", "POST /v1/labels/{tracking}/void": "void", "POST /v1/shipments": "shipment", "POST /v1/claims": "claim",
	}), mux)
}

// play schedules the events Step apart; under the reorder fault they go
// out newest first (delivered before picked_up), as carriers' batched
// webhooks sometimes do.
func (s *Carrier) play(tracking string, types ...domain.CarrierEventType) {
	if s.roll(s.config().ReorderRate) {
		types = slices.Clone(types)
		slices.Reverse(types)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range types {
		t := t
		s.timers = append(s.timers, time.AfterFunc(time.Duration(i+1)*s.Step, func() {
			if _, _, err := s.Send(context.Background(), tracking, t, "scheduled scan"); err != nil {
				s.Log.Warn("webhook not delivered", zap.String("tracking", tracking), zap.String("type", string(t)), zap.Error(err))
			}
		}))
	}
}

// Stop cancels scheduled events.
func (s *Carrier) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
}

// Send posts one signed webhook (twice under the duplicate fault), retrying
// a few times while the API is not ready to route it, as carriers do.
func (s *Carrier) Send(ctx context.Context, tracking string, typ domain.CarrierEventType, detail string) (workflows.CarrierEvent, int, error) {
	s.mu.Lock()
	s.seq++
	ev := workflows.CarrierEvent{EventID: fmt.Sprintf("%s-%d-%s", tracking, s.seq, typ), TrackingNumber: tracking, Type: typ, OccurredAt: time.Now().UTC(), Detail: detail}
	s.mu.Unlock()
	body, _ := json.Marshal(ev)
	copies := 1
	if s.roll(s.config().DuplicateRate) {
		copies = 2
	}
	var status int
	var err error
	for c := 0; c < copies; c++ {
		for attempt := 0; attempt < 5; attempt++ {
			status, err = s.post(ctx, body)
			if err == nil && (status < 300 || status == http.StatusConflict) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond)
		}
	}
	if err == nil && status >= 300 && status != http.StatusConflict {
		err = fmt.Errorf("webhook answered %d", status)
	}
	s.Log.Info("webhook sent", zap.String("tracking", tracking), zap.String("type", string(typ)), zap.Int("status", status))
	return ev, status, err
}

func (s *Carrier) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.Header, webhook.Sign(s.Secret, time.Now(), body))
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post webhook: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
