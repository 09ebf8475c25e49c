package starter

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/workflows"
)

// Every refusal type a workflow validator answers reaches the API as a
// RefusedError of that kind (forbidden was once passed on raw, and the
// API answered 500 for a support agent beyond the override limit).
func TestMapErrKeepsEveryRefusalKind(t *testing.T) {
	for _, kind := range []string{workflows.ErrInvalidTransition, workflows.ErrInvalidInput, workflows.ErrForbidden} {
		err := mapErr(temporal.NewApplicationError("cannot do it", kind))
		var ref *RefusedError
		if !errors.As(err, &ref) || ref.Kind != kind || ref.Message != "cannot do it" {
			t.Errorf("%s: mapped to %#v", kind, err)
		}
	}
	if err := mapErr(temporal.NewApplicationError("boom", "other")); errors.As(err, new(*RefusedError)) {
		t.Errorf("an unknown failure became a refusal: %v", err)
	}
}
