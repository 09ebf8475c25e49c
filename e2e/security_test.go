package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

// token creates an API token with rma token create against this dev's
// database and returns it (the last line of the output).
func (d *dev) token(args ...string) string {
	d.t.Helper()
	out, err := d.cli(append([]string{"token", "create", "--data-dir", d.dataDir}, args...)...)
	if err != nil {
		d.t.Fatalf("rma token create %v: %v\n%s", args, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// as calls the API with another token than the dev one.
func (d *dev) as(tok, method, path string, body any) (int, map[string]any) {
	d.t.Helper()
	return d.call(method, path, body, "Authorization", "Bearer "+tok)
}

// rawHistory is fetchHistory for a test: the history as stored.
func (d *dev) rawHistory(id string) *historypb.History {
	d.t.Helper()
	h, err := fetchHistory(d, id)
	if err != nil {
		d.t.Fatal(err)
	}
	return h
}

// replay replays a stored (encrypted) history with the dev's keys.
func (d *dev) replay(h *historypb.History) error {
	dc := codec.DataConverter(d.keys())
	rp, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc, FailureConverter: codec.FailureConverter(dc)})
	if err != nil {
		return err
	}
	rp.RegisterWorkflowWithOptions(workflows.Return, workflow.RegisterOptions{Name: workflows.WorkflowType})
	return rp.ReplayWorkflowHistory(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), h)
}

// payloads lists every payload of a history but the search attributes
// (which visibility must read, and which carry no personal data).
func payloads(t *testing.T, h *historypb.History) []*commonpb.Payload {
	var out []*commonpb.Payload
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			out = append(out, ps...)
			return ps, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSecurity(t *testing.T) {
	d := newDev(t, "")
	const email, phone, name = "li.wei.e2e@example.cn", "+86 138 0013 8000", "Li Wei Zhang"
	reqA := returnRequest("SO-SEC-A", "C-SEC-A", "SKU-RED-M", 19900, "changed_mind", "refund")
	cust := reqA["customer"].(map[string]any)
	cust["email"], cust["phone"] = email, phone
	reqA["lines"].([]any)[0].(map[string]any)["comment"] = "sent by " + name
	idA := d.create(reqA)
	idB := d.create(returnRequest("SO-SEC-B", "C-SEC-B", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(idA, domain.StatusPendingReview)
	d.waitStatus(idB, domain.StatusPendingReview)
	d.mustCall("POST", "/v1/returns/"+idA+"/notes", map[string]any{"note": "internal: second return this month"}, 200)

	customerA := d.token("--role", "customer", "--customer", "C-SEC-A", "--ttl", "1h")
	wh := d.token("--role", "warehouse", "--subject", "w1@shop.example")
	if !strings.HasPrefix(customerA, "rma_") || !strings.HasPrefix(wh, "rma_") {
		t.Fatalf("tokens %q %q", customerA, wh)
	}

	t.Run("a customer reads its own return in the customer view", func(t *testing.T) {
		code, own := d.as(customerA, "GET", "/v1/returns/"+idA, nil)
		if code != 200 || own["id"] != idA {
			t.Fatalf("own return: %d %v", code, own)
		}
		for _, field := range []string{"notes", "assignee", "payments", "attention", "sla_breaches"} {
			if _, ok := own[field]; ok {
				t.Errorf("customer view has %s: %v", field, own[field])
			}
		}
		if own["customer"].(map[string]any)["email"] != email {
			t.Errorf("the customer's own email is missing")
		}
	})

	t.Run("another customer's return answers 404 to every call", func(t *testing.T) {
		var gone map[string]any
		_, gone = d.as(customerA, "GET", "/v1/returns/RMA-DOES-NOT-EXIST", nil)
		calls := []struct {
			method, path string
			body         any
		}{
			{"GET", "", nil},
			{"POST", "/cancel", map[string]any{"reason": "probing"}},
			{"POST", "/info", map[string]any{"answer": "probing"}},
			{"POST", "/shipping-choice", map[string]any{"method": "pickup"}},
			{"POST", "/exchange-choice", map[string]any{"choice": "refund"}},
			{"POST", "/survey", map[string]any{"score": 1}},
		}
		for _, c := range calls {
			code, out := d.as(customerA, c.method, "/v1/returns/"+idB+c.path, c.body)
			if code != 404 {
				t.Errorf("%s %s of another customer: %d %v", c.method, c.path, code, out)
				continue
			}
			// The answer is the one a return that does not exist gets.
			msg := out["error"].(map[string]any)["message"].(string)
			if out["error"].(map[string]any)["code"] != gone["error"].(map[string]any)["code"] || !strings.Contains(msg, idB) || strings.Contains(msg, "C-SEC") {
				t.Errorf("%s %s: answer %v differs from a missing return's %v", c.method, c.path, out, gone)
			}
		}
		fmt.Printf("customer C-SEC-A reading %s (customer C-SEC-B): 404 %v\n", idB, mustJSON(t, d, customerA, idB))
		if r := d.get(idB); r.Status != domain.StatusPendingReview || countEvents(r, "cancel_command") != 0 {
			t.Errorf("the other return changed: %s", r.Status)
		}
	})

	t.Run("a customer lists only its own returns", func(t *testing.T) {
		for _, q := range []string{"", "?customer_id=C-SEC-B", "?order_id=SO-SEC-B"} {
			code, out := d.as(customerA, "GET", "/v1/returns"+q, nil)
			if code != 200 {
				t.Fatalf("list%s: %d %v", q, code, out)
			}
			for _, it := range out["items"].([]any) {
				if c := it.(map[string]any)["customer_id"]; c != "C-SEC-A" {
					t.Errorf("list%s shows a return of %v", q, c)
				}
			}
		}
	})

	t.Run("an unauthorized approval is 403 and leaves no history event", func(t *testing.T) {
		before := settledHistoryLength(t, d, idA)
		for _, tok := range []string{wh, customerA} {
			if code, out := d.as(tok, "POST", "/v1/returns/"+idA+"/approve", map[string]any{}); code != 403 && !(tok == customerA && code == 404) {
				t.Errorf("approve: %d %v", code, out)
			}
		}
		// Straight to Temporal, past the API: the update validator refuses
		// an actor without the role.
		c, err := d.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		in := workflows.ApproveInput{Actor: "w1@shop.example"}
		in.ActorRoles = []string{domain.RoleWarehouse}
		h, err := c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{WorkflowID: workflows.WorkflowID(idA), UpdateName: workflows.UpdateApprove,
			Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(context.Background(), nil)
		}
		if err == nil || !strings.Contains(err.Error(), "needs one of the roles support") {
			t.Errorf("direct approval by a warehouse actor: %v", err)
		}
		if after := historyLength(t, d, idA); after != before {
			t.Errorf("refused approvals wrote %d history events", after-before)
		}
		fmt.Printf("unauthorized approval of %s: 403 over the API, refused by the validator, history length %d before and after\n", idA, before)
	})

	// Approve as support: the history then holds commands, notices and
	// activities as well as the start.
	d.mustCall("POST", "/v1/returns/"+idA+"/approve", map[string]any{"note": "ok"}, 200)
	r := d.waitStatus(idA, domain.StatusAwaitingShipment)
	for _, e := range r.Timeline {
		if e.Type == "approved" && e.Actor != "dev" {
			t.Errorf("approved by %q, not the token's subject", e.Actor)
		}
	}
	d.chooseShipping(idA, "pickup")
	settledHistoryLength(t, d, idA)

	t.Run("the raw history holds only ciphertext", func(t *testing.T) {
		h := d.rawHistory(idA)
		ps := payloads(t, h)
		keyIDs := map[string]int{}
		for _, p := range ps {
			if enc := string(p.Metadata["encoding"]); enc != codec.Encoding {
				t.Errorf("a payload is %s", enc)
			}
			keyIDs[string(p.Metadata[codec.MetadataKeyID])]++
		}
		raw, _ := proto.Marshal(h)
		js, _ := protojson.Marshal(h)
		for _, pii := range []string{email, phone, name, "li.wei", "138 0013"} {
			if bytes.Contains(raw, []byte(pii)) || bytes.Contains(js, []byte(pii)) {
				t.Errorf("the raw history holds %q", pii)
			}
		}
		// Search attributes and the workflow ID are never encrypted: they
		// must carry no personal data at all.
		desc, err := rawDescribe(d, idA)
		if err != nil {
			t.Fatal(err)
		}
		for _, pii := range []string{email, phone, name} {
			if strings.Contains(desc, pii) || strings.Contains(workflows.WorkflowID(idA), pii) {
				t.Errorf("search attributes or the workflow ID hold %q", pii)
			}
		}
		if len(ps) < 10 {
			t.Fatalf("only %d payloads", len(ps))
		}
		// What ops read in the UI through the codec: activity, timer and
		// workflow summaries name the return, never the person.
		decoded := proto.Clone(h).(*historypb.History)
		if err := codec.DecodeAll(context.Background(), d.keys(), decoded); err != nil {
			t.Fatal(err)
		}
		summaries := 0
		for _, ev := range decoded.Events {
			for _, p := range []*commonpb.Payload{ev.GetUserMetadata().GetSummary(), ev.GetUserMetadata().GetDetails()} {
				if p == nil {
					continue
				}
				summaries++
				for _, pii := range []string{email, phone, name} {
					if bytes.Contains(p.Data, []byte(pii)) {
						t.Errorf("event %d's summary holds %q: %s", ev.EventId, pii, p.Data)
					}
				}
			}
		}
		if summaries < 5 {
			t.Errorf("only %d summaries checked", summaries)
		}
		first := ps[0]
		fmt.Printf("raw history of %s: %d events, %d payloads, all %s (keys %v); %d bytes hold none of %q %q %q; e.g. metadata %v, data %s...\n",
			idA, len(h.Events), len(ps), codec.Encoding, keyIDs, len(raw), email, phone, name, stringMeta(first.Metadata), hex.EncodeToString(first.Data[:24]))

		// The codec server decodes for support and admin only.
		body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: ps[:1]})
		for _, c := range []struct {
			name, auth, origin string
			want               int
		}{
			{"dev token", "Bearer " + token, "", 200},
			{"customer token", "Bearer " + customerA, "", 403},
			{"warehouse token", "Bearer " + wh, "", 403},
			{"no token", "", "", 401},
			{"the dev UI", "", fmt.Sprintf("http://127.0.0.1:%d", d.ui), 200},
			{"another site", "", "http://evil.example", 403},
		} {
			req, _ := http.NewRequest("POST", d.url("/codec/decode"), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Namespace", "default")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, _ = out.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("codec %s: %d %s", c.name, resp.StatusCode, out.String())
			}
			var decoded struct {
				Payloads []struct {
					Metadata map[string][]byte
					Data     []byte
				}
			}
			if c.want == 200 && (json.Unmarshal(out.Bytes(), &decoded) != nil || len(decoded.Payloads) != 1 ||
				string(decoded.Payloads[0].Metadata["encoding"]) != "json/plain" || !bytes.Contains(decoded.Payloads[0].Data, []byte("SO-SEC-A"))) {
				t.Errorf("codec %s: not decoded: %s", c.name, out.String())
			}
		}

		// An encrypted history replays with the codec.
		if err := d.replay(h); err != nil {
			t.Errorf("replay of the encrypted history: %v", err)
		}
	})

	t.Run("a stored customer token without its customer acts for nobody", func(t *testing.T) {
		// Written past rma token create, which refuses it: unscoped, it
		// would read every return.
		bad := "rma_a-customer-role-without-a-customer-0123"
		var id string
		if err := queryRow(readDatabaseURL(t, d), `INSERT INTO api_tokens (id, hash, subject, roles, created_at)
  VALUES ('tok_bad', $1, 'nobody', '{customer}', now()) RETURNING id`, store.HashToken(bad)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/v1/returns/" + idA, "/v1/returns"} {
			if code, out := d.as(bad, "GET", path, nil); code != 401 {
				t.Errorf("GET %s: %d %v", path, code, out)
			}
		}
	})

	t.Run("a revoked token stops working", func(t *testing.T) {
		out, err := d.cli("token", "list", "--data-dir", d.dataDir, "-o", "json")
		if err != nil || strings.Contains(out, customerA) || strings.Contains(out, wh) {
			t.Fatalf("token list: %v %s", err, out)
		}
		id := tokenID(t, out, "w1@shop.example")
		if out, err := d.cli("token", "revoke", id, "--data-dir", d.dataDir); err != nil {
			t.Fatalf("revoke: %v %s", err, out)
		}
		if code, _ := d.as(wh, "GET", "/v1/returns/"+idA, nil); code != 401 {
			t.Errorf("revoked token: %d", code)
		}
	})
}

// Rotating the payload key keeps every open return readable: after a
// restart with a new active key (the old one kept for decryption), the
// worker replays old histories, commands go on, and new payloads are sealed
// with the new key.
func TestPayloadKeyRotation(t *testing.T) {
	d := newDev(t, "")
	id := d.create(returnRequest("SO-ROT", "C-ROT", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(id, domain.StatusPendingReview)
	settledHistoryLength(t, d, id)
	d.stop()
	path := filepath.Join(d.dataDir, "payload-keys")
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := codec.NewKey("rotated2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fresh+"\n"+string(old)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	d.mustCall("POST", "/v1/returns/"+id+"/approve", map[string]any{}, 200)
	d.waitStatus(id, domain.StatusAwaitingShipment)
	settledHistoryLength(t, d, id)
	ids := map[string]int{}
	for _, p := range payloads(t, d.rawHistory(id)) {
		ids[string(p.Metadata[codec.MetadataKeyID])]++
	}
	if ids["dev1"] == 0 || ids["rotated2"] == 0 || len(ids) != 2 {
		t.Fatalf("payload keys in the history: %v", ids)
	}
	// The whole history, old key and new, decodes and replays.
	if err := d.replay(d.rawHistory(id)); err != nil {
		t.Fatalf("replay across the rotation: %v", err)
	}
	fmt.Printf("key rotation: %s has payloads under %v and replays\n", id, ids)
}

func rawDescribe(d *dev, id string) (string, error) {
	c, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", d.temporal)})
	if err != nil {
		return "", err
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
	if err != nil {
		return "", err
	}
	b, err := protojson.Marshal(desc)
	return string(b), err
}

func stringMeta(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func mustJSON(t *testing.T, d *dev, tok, id string) string {
	_, out := d.as(tok, "GET", "/v1/returns/"+id, nil)
	b, _ := json.Marshal(out)
	return string(b)
}

func tokenID(t *testing.T, listJSON, subject string) string {
	var ts []struct {
		ID      string `json:"id"`
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal([]byte(listJSON), &ts); err != nil {
		t.Fatalf("token list: %v %s", err, listJSON)
	}
	for _, tk := range ts {
		if tk.Subject == subject {
			return tk.ID
		}
	}
	t.Fatalf("no token of %s in %s", subject, listJSON)
	return ""
}
