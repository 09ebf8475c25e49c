package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
)

func keyring(t *testing.T, ids ...string) (*Keyring, string) {
	t.Helper()
	var lines []string
	for _, id := range ids {
		k, err := NewKey(id)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, k)
	}
	spec := strings.Join(lines, "\n")
	kr, err := ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr, spec
}

type customer struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

func TestSealedPayloadsHoldNoPlaintextAndRoundTrip(t *testing.T) {
	kr, _ := keyring(t, "k1")
	dc := DataConverter(kr)
	in := customer{Email: "li.wei@example.cn", Phone: "+86 138 0000 1234"}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[MetadataEncoding]); got != Encoding {
		t.Fatalf("encoding %q", got)
	}
	if got := string(p.Metadata[MetadataKeyID]); got != "k1" {
		t.Fatalf("key id %q", got)
	}
	raw, _ := p.Marshal()
	for _, s := range []string{in.Email, in.Phone, "json/plain", "email"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("sealed payload holds %q", s)
		}
	}
	var out customer
	if err := dc.FromPayload(p, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	// Two seals of one value differ (a fresh nonce each time).
	p2, _ := dc.ToPayload(in)
	if bytes.Equal(p.Data, p2.Data) {
		t.Error("two seals are identical: nonce reused")
	}
}

func TestRotationKeepsOldPayloadsReadable(t *testing.T) {
	old, oldSpec := keyring(t, "2026-01")
	sealed, err := DataConverter(old).ToPayload(customer{Email: "a@b.c"})
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := NewKey("2026-11")
	rotated, err := ParseKeyring(newKey + "\n" + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ActiveKeyID() != "2026-11" {
		t.Fatalf("active %s", rotated.ActiveKeyID())
	}
	var out customer
	if err := DataConverter(rotated).FromPayload(sealed, &out); err != nil || out.Email != "a@b.c" {
		t.Fatalf("old payload after rotation: %+v %v", out, err)
	}
	fresh, _ := DataConverter(rotated).ToPayload(out)
	if string(fresh.Metadata[MetadataKeyID]) != "2026-11" {
		t.Fatalf("new payloads sealed with %s", fresh.Metadata[MetadataKeyID])
	}
	// Dropping the old key makes its payloads unreadable, with a message
	// that says which key is missing.
	only, _ := ParseKeyring(newKey)
	err = DataConverter(only).FromPayload(sealed, &out)
	if err == nil || !strings.Contains(err.Error(), `"2026-01"`) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestTamperedPayloadsDoNotOpen(t *testing.T) {
	kr, _ := keyring(t, "a", "b")
	p, _ := DataConverter(kr).ToPayload("secret")
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("b")}, Data: p.Data}
	flipped := &commonpb.Payload{Metadata: p.Metadata, Data: append([]byte(nil), p.Data...)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	short := &commonpb.Payload{Metadata: p.Metadata, Data: []byte{1, 2}}
	for name, bad := range map[string]*commonpb.Payload{"relabelled": relabelled, "flipped": flipped, "short": short} {
		var s string
		if err := DataConverter(kr).FromPayload(bad, &s); err == nil {
			t.Errorf("%s payload opened as %q", name, s)
		}
	}
}

func TestPlainPayloadsPassThrough(t *testing.T) {
	kr, _ := keyring(t, "k")
	plain, _ := converter.GetDefaultDataConverter().ToPayload(customer{Email: "x@y.z"})
	var out customer
	if err := DataConverter(kr).FromPayload(plain, &out); err != nil || out.Email != "x@y.z" {
		t.Fatalf("plain payload: %+v %v", out, err)
	}
}

func TestFailuresCarryNoMessage(t *testing.T) {
	kr, _ := keyring(t, "k")
	fc := FailureConverter(DataConverter(kr))
	f := fc.ErrorToFailure(temporal.NewApplicationError("customer li.wei@example.cn has no order", "invalid_input"))
	raw, _ := f.Marshal()
	if bytes.Contains(raw, []byte("li.wei")) {
		t.Fatal("failure holds the message in clear")
	}
	back := fc.FailureToError(f)
	var ae *temporal.ApplicationError
	if !errors.As(back, &ae) || ae.Type() != "invalid_input" || !strings.Contains(ae.Error(), "li.wei@example.cn") {
		t.Fatalf("decoded failure: %v", back)
	}
}

func TestParseKeyringRefusesBadEntries(t *testing.T) {
	good, _ := NewKey("k")
	for _, spec := range []string{"", "# only a comment", "k", "k:notbase64!", "k:AAAA", "bad id:" + strings.TrimPrefix(good, "k:"), good + "\n" + good} {
		if _, err := ParseKeyring(spec); err == nil {
			t.Errorf("%q accepted", spec)
		} else if strings.Contains(err.Error(), strings.TrimPrefix(good, "k:")) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	if _, err := NewKey("no spaces"); err == nil {
		t.Error("bad id accepted")
	}
}

func TestCodecServer(t *testing.T) {
	kr, _ := keyring(t, "k")
	sealed, _ := DataConverter(kr).ToPayload(customer{Email: "z@q.cn"})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{sealed}})
	h := Handler(HandlerOptions{Keys: kr, Namespace: "default", Origins: []string{"http://127.0.0.1:8233"},
		Authorize: func(r *http.Request) (int, string) {
			switch r.Header.Get("Authorization") {
			case "":
				return http.StatusUnauthorized, "token required"
			case "Bearer ok":
				return 0, ""
			}
			return http.StatusForbidden, "no"
		}})
	do := func(method, path, origin, auth, ns string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ns != "" {
			req.Header.Set("X-Namespace", ns)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	cases := []struct {
		name, method, path, origin, auth, ns string
		status                               int
	}{
		{"preflight from the UI", "OPTIONS", "/codec/decode", "http://127.0.0.1:8233", "", "", 200},
		{"other origin", "POST", "/codec/decode", "http://evil.example", "Bearer ok", "", 403},
		{"no token", "POST", "/codec/decode", "http://127.0.0.1:8233", "", "", 401},
		{"wrong token", "POST", "/codec/decode", "", "Bearer no", "", 403},
		{"other namespace", "POST", "/codec/decode", "", "Bearer ok", "prod", 403},
		{"not a codec path", "POST", "/codec/other", "", "Bearer ok", "", 404},
		{"decode", "POST", "/codec/decode", "http://127.0.0.1:8233", "Bearer ok", "default", 200},
	}
	for _, c := range cases {
		rec := do(c.method, c.path, c.origin, c.auth, c.ns)
		if rec.Code != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, rec.Code, rec.Body, c.status)
		}
		if c.status == 200 && c.origin != "" && rec.Header().Get("Access-Control-Allow-Origin") != c.origin {
			t.Errorf("%s: no CORS header for the UI", c.name)
		}
		if c.name == "decode" {
			// The answer is JSON Payloads: data is the base64 of the
			// plain JSON value.
			var out struct{ Payloads []struct{ Data []byte } }
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Payloads) != 1 || !bytes.Contains(out.Payloads[0].Data, []byte("z@q.cn")) {
				t.Errorf("decode answered %s (%v)", rec.Body, err)
			}
		}
		if c.status != 200 && strings.Contains(rec.Body.String(), "z@q.cn") {
			t.Errorf("%s: refused answer holds plaintext", c.name)
		}
	}
}
