package store

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rma-dev/rma/domain"
)

// Versions are numbered without gaps, even when applied concurrently; the
// same effective policy is not stored twice; the source is kept as
// written; the current-policy source follows the newest version.
func TestPolicyVersions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.CurrentPolicy(ctx); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("an empty table: %v", err)
	}
	v1, same, err := s.EnsurePolicy(ctx, "# defaults\n", domain.Defaults(), "bootstrap", false, t0)
	if err != nil || v1.Version != 1 || !same {
		t.Fatalf("bootstrap: %+v %v %v", v1, same, err)
	}
	src := "preset: eu-crd\n# EU launch\n"
	eu, err := domain.LoadPolicy([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// Without replace, a different policy is not stored.
	if v, same, err := s.EnsurePolicy(ctx, src, eu, "x", false, t0); err != nil || v.Version != 1 || same {
		t.Fatalf("ensure without replace: %+v %v %v", v, same, err)
	}
	eff, _ := eu.YAML()
	var wg sync.WaitGroup
	created := make([]bool, 4)
	for i := range created {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			yaml := string(eff)
			if i%2 == 1 {
				yaml += "# variant\n" // a different effective text: a new version
			}
			var err error
			if _, created[i], err = s.ApplyPolicy(ctx, src, yaml, "ops:lee", "EU", t0); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	hist, err := s.PolicyHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range hist {
		if v.Version != len(hist)-i {
			t.Fatalf("versions with a gap or a duplicate: %+v", hist)
		}
	}
	if len(hist) < 3 || len(hist) > 5 {
		t.Fatalf("%d versions after four concurrent applies of two texts", len(hist))
	}
	v2, err := s.PolicyAt(ctx, 2)
	if err != nil || v2.Source != src || v2.Author != "ops:lee" {
		t.Fatalf("version 2: %+v %v", v2, err)
	}
	p, n, err := s.Policies().Current(ctx)
	if err != nil || n != hist[0].Version || p.Preset != "eu-crd" {
		t.Fatalf("current: %d %q %v", n, p.Preset, err)
	}
	if _, err := s.PolicyAt(ctx, 99); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("a missing version: %v", err)
	}
}
