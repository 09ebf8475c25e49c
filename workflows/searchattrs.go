package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/domain"
)

// Typed search attribute keys, defined once. The embedded server registers
// them from SearchAttributeTypes; the workflow upserts them at each transition.
var (
	SAStatus   = temporal.NewSearchAttributeKeyKeyword("RmaStatus")
	SAOrder    = temporal.NewSearchAttributeKeyKeyword("RmaOrderId")
	SACustomer = temporal.NewSearchAttributeKeyKeyword("RmaCustomerId")
	SAKind     = temporal.NewSearchAttributeKeyKeyword("RmaKind")
	SASKUs     = temporal.NewSearchAttributeKeyKeywordList("RmaSkus")
	SADeadline = temporal.NewSearchAttributeKeyTime("RmaDeadline")
	// SATracking lists the return label and outbound parcels, so ops find a
	// return by a tracking number in the Temporal UI. (Carrier webhooks
	// find theirs through the parcel routes in PostgreSQL.)
	SATracking = temporal.NewSearchAttributeKeyKeywordList("RmaTrackingNumbers")
	// SAPolicyVersion is the stored policy version the return runs under,
	// set at start: RmaPolicyVersion = 3 finds every return of version 3.
	SAPolicyVersion = temporal.NewSearchAttributeKeyInt64("RmaPolicyVersion")
)

// SearchAttributeTypes is what a namespace must register for rma.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAStatus.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAOrder.GetName():         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SACustomer.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAKind.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASKUs.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SADeadline.GetName():      enumspb.INDEXED_VALUE_TYPE_DATETIME,
		SATracking.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SAPolicyVersion.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
	}
}

// StartSearchAttributes are the attributes known at start: a return is
// findable by order, customer, SKU, and the status and deadline domain.Open
// gave it, from its first moment. Attributes set at start are free.
func StartSearchAttributes(req domain.Request, v domain.Return) temporal.SearchAttributes {
	u := []temporal.SearchAttributeUpdate{
		SAStatus.ValueSet(string(v.Status)),
		SAOrder.ValueSet(req.OrderID),
		SACustomer.ValueSet(req.Customer.ID),
		SAKind.ValueSet(string(req.Kind)),
		SASKUs.ValueSet(searchSKUs(req)),
	}
	if v.Deadline != nil {
		u = append(u, SADeadline.ValueSet(v.Deadline.At))
	}
	if v.PolicyVersion > 0 {
		u = append(u, SAPolicyVersion.ValueSet(int64(v.PolicyVersion)))
	}
	return temporal.NewSearchAttributes(u...)
}

// searchState is what the workflow last told visibility.
type searchState struct {
	known    bool
	status   string
	deadline time.Time
	tracking int
}

func searchOf(v domain.Return, tracking []string) searchState {
	s := searchState{known: true, status: string(v.Status), tracking: len(tracking)}
	if v.Deadline != nil {
		s.deadline = v.Deadline.At
	}
	return s
}

// upsertSearch tells visibility what changed since it was last told, in one
// command: every upsert is a billable action, so unchanged attributes (and
// the ones set at start) are never sent again.
func (r *returnRun) upsertSearch(ctx workflow.Context) {
	want := searchOf(r.v, r.tracking)
	have := r.sa
	var u []temporal.SearchAttributeUpdate
	if !have.known {
		u = append(u, SAOrder.ValueSet(r.req.OrderID), SACustomer.ValueSet(r.req.Customer.ID), SAKind.ValueSet(string(r.req.Kind)), SASKUs.ValueSet(searchSKUs(r.req)))
		if r.v.PolicyVersion > 0 {
			u = append(u, SAPolicyVersion.ValueSet(int64(r.v.PolicyVersion)))
		}
	}
	if !have.known || have.status != want.status {
		u = append(u, SAStatus.ValueSet(want.status))
	}
	if !have.known || !have.deadline.Equal(want.deadline) {
		if want.deadline.IsZero() {
			u = append(u, SADeadline.ValueUnset())
		} else {
			u = append(u, SADeadline.ValueSet(want.deadline))
		}
	}
	if have.tracking != want.tracking {
		u = append(u, SATracking.ValueSet(append([]string(nil), r.tracking...)))
	}
	if len(u) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, u...); err != nil {
		r.log.Warn("upsert search attributes", "error", err)
		return
	}
	r.sa = want
}

// maxSKUBytes keeps RmaSkus under the server's default limit on one search
// attribute value (2 KB). A return with more distinct SKUs than fit is found
// in the Temporal UI by the first ones; the read model lists it by any SKU.
const maxSKUBytes = 1800

func searchSKUs(req domain.Request) []string {
	var out []string
	size := 2
	for _, sku := range req.SKUs() {
		if size+len(sku)+3 > maxSKUBytes {
			break
		}
		size += len(sku) + 3
		out = append(out, sku)
	}
	return out
}
