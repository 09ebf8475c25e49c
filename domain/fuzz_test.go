package domain

import (
	"reflect"
	"testing"
)

// FuzzLoadPolicy: any policy file is loaded or refused with an error,
// never a panic; what loads prints back to YAML that loads to the same
// policy.
func FuzzLoadPolicy(f *testing.F) {
	def, err := Defaults().YAML()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte("review:\n  reply_sla: 3s\n"))
	f.Add([]byte("shipping:\n  pickup_within: -1h\n"))
	f.Add([]byte("unknown: 1\n"))
	f.Add([]byte("fees:\n  by_reason:\n    defective:\n      restocking_bps: 20000\n"))
	f.Add([]byte("window:\n  categories:\n    x: 1y\n"))
	f.Add([]byte("currency: ''\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("- - - -"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadPolicy(data)
		if err != nil {
			return
		}
		out, err := p.YAML()
		if err != nil {
			t.Fatalf("a loaded policy does not print: %v", err)
		}
		q, err := LoadPolicy(out)
		if err != nil {
			t.Fatalf("a printed policy does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("policy changed through YAML:\n%+v\n%+v", p, q)
		}
	})
}
