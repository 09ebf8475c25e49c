package workflows

import "testing"

// TestMoneyRetriesEndBeforeTheProviderForgetsKeys: every retry a money step
// makes on its own (the quick round, then the full one) ends long before
// the provider forgets its idempotency key, so within a step the key alone
// keeps a payment single; only a retry support starts later reconciles by
// lookup (reconcileAfter).
func TestMoneyRetriesEndBeforeTheProviderForgetsKeys(t *testing.T) {
	o := localOptions(classMoney, "refund")
	own := quickRound + o.ScheduleToCloseTimeout
	if own >= reconcileAfter || reconcileAfter >= keyRetention {
		t.Fatalf("a money step retries for %s; reconcile after %s; keys kept %s", own, reconcileAfter, keyRetention)
	}
	if o.ScheduleToCloseTimeout <= 0 || o.RetryPolicy.MaximumAttempts <= 0 {
		t.Fatalf("money retries must be bounded: %+v", o)
	}
}
