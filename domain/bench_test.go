package domain

import (
	"fmt"
	"testing"
	"time"
)

// Micro-benchmarks of the pure hot paths (make bench).

func benchRequest(lines int) Request {
	var ls []Line
	for i := 0; i < lines; i++ {
		l := line(fmt.Sprintf("L%d", i), 19900, ReasonDefective, ResolutionRefund)
		l.Photos = []string{"https://img.example/1.jpg"}
		ls = append(ls, l)
	}
	return req(ls...)
}

// BenchmarkOpen is the policy evaluation of a create call (eligibility and
// the review decision), which the API and the workflow both run.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{1, 10, MaxLines} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			in := OpenInput{RMAID: "RMA-1", Request: benchRequest(n), Policy: Defaults(), At: delivered.Add(24 * time.Hour)}
			b.ReportAllocs()
			for b.Loop() {
				_ = Open(in)
			}
		})
	}
}

// BenchmarkComputeRefunds is the refund of a resolve.
func BenchmarkComputeRefunds(b *testing.B) {
	p := Defaults()
	for _, n := range []int{1, MaxLines} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			var in []RefundInput
			for i := 0; i < n; i++ {
				in = append(in, RefundInput{LineID: fmt.Sprintf("L%d", i), Value: cny(19900), Reason: Reasons()[i%len(Reasons())]})
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = ComputeRefunds(p, in, true)
			}
		})
	}
}

// BenchmarkValidate is the create call's validation with every cap.
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{1, MaxLines} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			r := benchRequest(n).Normalize()
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Validate(delivered.Add(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
