package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rma-dev/rma/domain"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestPolicyShowPrintsLoadableDefaultsAndOverrides(t *testing.T) {
	out, err := run(t, "policy", "show")
	if err != nil {
		t.Fatal(err)
	}
	p, err := domain.LoadPolicy([]byte(out))
	if err != nil {
		t.Fatalf("output is not a valid policy: %v\n%s", err, out)
	}
	if p.Shipping.PickupWithin.D().Hours() != 48 || !strings.Contains(out, "pickup_within: 48h") {
		t.Fatalf("defaults missing:\n%s", out)
	}
	f := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(f, []byte("shipping:\n  pickup_within: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "policy", "show", "--policy", f)
	if err != nil || !strings.Contains(out, "pickup_within: 5s") || !strings.Contains(out, "reply_sla: 24h") {
		t.Fatalf("override not applied: %v\n%s", err, out)
	}
	if err := os.WriteFile(f, []byte("shipping:\n  pikup_within: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "policy", "show", "--policy", f); err == nil || !strings.Contains(err.Error(), "pikup_within") {
		t.Fatalf("typo not reported: %v", err)
	}
	if out, err := run(t, "policy", "show", "-o", "json"); err != nil || !strings.Contains(out, `"pickup_within": "48h"`) {
		t.Fatalf("json: %v %s", err, out)
	}
}
