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

// rma policy show --preset prints the preset's file with its sources, and
// that file loads as a policy; a file naming the preset overrides it.
func TestPolicyShowPreset(t *testing.T) {
	out, err := run(t, "policy", "show", "--preset", "cn-7day")
	if err != nil || !strings.Contains(out, "[CRPL art. 25") || !strings.Contains(out, "due_within: 168h") {
		t.Fatalf("preset: %v\n%s", err, out)
	}
	if p, err := domain.LoadPolicy([]byte(out)); err != nil || p.Preset != "cn-7day" {
		t.Fatalf("the preset's file does not load: %v", err)
	}
	f := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(f, []byte("preset: eu-crd\nwindow:\n  default: 720h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err = run(t, "policy", "show", "--policy", f); err != nil || !strings.Contains(out, "default: 720h") || !strings.Contains(out, "include_outbound_shipping: true") {
		t.Fatalf("override of eu-crd: %v\n%s", err, out)
	}
	if _, err = run(t, "policy", "show", "--preset", "us-ca"); err == nil || !strings.Contains(err.Error(), "cn-7day, eu-crd") {
		t.Fatalf("an unknown preset: %v", err)
	}
}
