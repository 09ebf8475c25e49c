package workflows_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rma-dev/rma/workflows"
)

// Temporal fails a workflow at 51,200 events or 50 MB of history; a return
// must stay under a tenth of both, whatever a client sends.
const (
	maxEvents = 51200 / 10
	maxBytes  = 50 << 20 / 10
)

// TestReplayRecordedHistories replays every history recorded from real
// server runs (make record-histories; one directory per recorded cut of the
// workflow). A change to the workflow that is not replay-safe (not guarded
// by workflow.GetVersion, or not a new workflow type) fails here. It also
// holds every recorded history, the measured worst case among them, under a
// tenth of Temporal's limits.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*/*.json*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, ".gz") {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			var h historypb.History
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &h); err != nil {
				t.Fatalf("decode %s: %v", f, err)
			}
			events, size := len(h.Events), proto.Size(&h)
			t.Logf("%d events, %d bytes", events, size)
			if events > maxEvents || size > maxBytes {
				t.Errorf("%d events / %d bytes: over a tenth of Temporal's limits (%d / %d)", events, size, maxEvents, maxBytes)
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.Return, workflow.RegisterOptions{Name: workflows.WorkflowType})
			if err := r.ReplayWorkflowHistory(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), &h); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
