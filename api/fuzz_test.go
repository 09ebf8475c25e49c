package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/workflows"
)

var fuzzNow = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// FuzzCreateRequest: a create body goes through what the API and the
// starter do before anything is stored: strict decoding, normalization,
// validation, the idempotency hash and the opening publication. No input
// may panic or be answered 5xx; a refusal is a 4xx or a validation error
// (422).
func FuzzCreateRequest(f *testing.F) {
	f.Add([]byte(`{"order_id":"SO-1","kind":"return","delivered_at":"2026-11-20T08:00:00Z","channel":"web","customer":{"id":"C-1","tier":"standard","locale":"en","email":"c@example.com"},"lines":[{"line_id":"L1","sku":"SKU-RED-M","batch":"B1","quantity":1,"unit_price":{"amount":19900,"currency":"CNY"},"reason":"defective","resolution":"refund","photos":["https://img.example/1.jpg"]}]}`))
	f.Add([]byte(`{"order_id":"SO-2","kind":"exchange","delivered_at":"2026-11-20T08:00:00Z","channel":"app","customer":{"id":"C-2","tier":"vip","locale":"zh-CN"},"lines":[{"line_id":"L1","sku":"SKU-RED-M","quantity":2,"unit_price":{"amount":1,"currency":"CNY"},"reason":"size_fit","resolution":"exchange","exchange_sku":"SKU-RED-L"}]}`))
	f.Add([]byte(`{"lines":[{"quantity":-1,"unit_price":{"amount":-5}}]}`))
	f.Add([]byte(`{"order_id":"\u0000","lines":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"order_id":"SO-1"} {"x":1}`))
	f.Add([]byte(`{"order_id":"SO-1","unknown":1}`))
	f.Add([]byte(`{"lines":[{"unit_price":{"amount":9223372036854775807,"currency":"CNY"},"quantity":10000}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		var req domain.Request
		if !decode(w, httptest.NewRequest("POST", "/v1/returns", bytes.NewReader(body)), &req) {
			if w.Code >= 500 || w.Code < 400 {
				t.Fatalf("decode answered %d", w.Code)
			}
			return
		}
		req = req.Normalize()
		if err := req.Validate(fuzzNow); err != nil {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("validation failed with %T (a 500): %v", err, err)
			}
			return
		}
		_ = starter.RequestHash(req)
		in := workflows.StartInput{RMAID: "RMA-FUZZ", Request: req, Policy: domain.Defaults(), RequestedAt: fuzzNow, Actor: "fuzz"}
		_ = workflows.OpeningPublication(in)
		if _, err := json.Marshal(in); err != nil {
			t.Fatalf("a valid request does not encode: %v", err)
		}
	})
}

// FuzzCommands: every command body is decoded and validated as the API
// does before it sends the update. No input may panic or be answered 5xx.
func FuzzCommands(f *testing.F) {
	for i, b := range []string{`{"note":"ok"}`, `{"reason":"worn"}`, `{"question":"?"}`, `{"answer":"a","photos":["https://x/1.jpg"]}`,
		`{"method":"pickup"}`, `{"choice":"variant","sku":"SKU-RED-XL"}`, `{"reason":"x"}`, `{}`,
		`{"items":[{"line_id":"L1","result":"pass","disposition":"restock"}]}`, `{"note":"n"}`, `{"line_id":"L1"}`,
		`{"action":"abandon","outcome":"completed"}`, `{"score":5}`, `{"items":[{"line_id":"","result":"x","photos":[""]}]}`} {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		inputs := []interface{ Validate() error }{&workflows.ApproveInput{}, &workflows.DeclineInput{}, &workflows.RequestInfoInput{},
			&workflows.InfoInput{}, &workflows.ShippingChoiceInput{}, &workflows.ExchangeChoiceInput{}, &workflows.CancelInput{},
			&workflows.ReceiveInput{}, &workflows.InspectionInput{}, &workflows.NoteInput{}, &workflows.RepairDoneInput{},
			&workflows.ResolveAttentionInput{}, &workflows.SurveyInput{}}
		in := inputs[int(which)%len(inputs)]
		w := httptest.NewRecorder()
		if !decode(w, httptest.NewRequest("POST", "/v1/returns/RMA-1/x", bytes.NewReader(body)), in) {
			if w.Code >= 500 || w.Code < 400 {
				t.Fatalf("decode answered %d", w.Code)
			}
			return
		}
		if err := in.Validate(); err != nil {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%T validation failed with %T (a 500): %v", in, err, err)
			}
		}
	})
}

// FuzzCarrierWebhookBody: the carrier webhook's body parser takes one
// known-field JSON object; anything else is refused with an error (a 400 or
// a 422), never a panic.
func FuzzCarrierWebhookBody(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","tracking_number":"RT1","type":"delivered","occurred_at":"2026-11-22T08:00:00Z"}`))
	f.Add([]byte(`{"event_id":"e1","tracking_number":"RT1","type":"exception","detail":"wet"}`))
	f.Add([]byte(`{"event_id":"","tracking_number":"","type":"lost"}`))
	f.Add([]byte(`{"event_id":"e1","tracking_number":"RT1","type":"delivered"}{}`))
	f.Add([]byte(`{"event_id":1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := parseCarrierEvent(body, fuzzNow)
		if err != nil {
			return
		}
		if ev.Validate() != nil || ev.OccurredAt.IsZero() || !ev.Type.Valid() {
			t.Fatalf("accepted an invalid event: %+v", ev)
		}
	})
}
