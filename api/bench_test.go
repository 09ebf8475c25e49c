package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

// BenchmarkDecodeCreate is the API's decoding of a create body: strict JSON
// (unknown fields refused), normalization and validation of every cap.
func BenchmarkDecodeCreate(b *testing.B) {
	for _, n := range []int{1, domain.MaxLines} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			var lines []map[string]any
			for i := 0; i < n; i++ {
				lines = append(lines, map[string]any{"line_id": fmt.Sprintf("L%d", i), "sku": "SKU-RED-M", "batch": "B1", "quantity": 1,
					"unit_price": map[string]any{"amount": 19900, "currency": "CNY"}, "reason": "defective", "resolution": "refund",
					"photos": []string{"https://img.example/1.jpg"}, "comment": "the zip broke"})
			}
			body, _ := json.Marshal(map[string]any{"order_id": "SO-1", "kind": "return", "delivered_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
				"channel": "web", "customer": map[string]any{"id": "C-1", "tier": "standard", "locale": "en", "email": "c@example.com"}, "lines": lines})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/returns", bytes.NewReader(body))
				w := httptest.NewRecorder()
				var r domain.Request
				if !decode(w, req, &r) {
					b.Fatal(w.Body.String())
				}
				if err := r.Normalize().Validate(time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
