package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

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
	// SATracking lists the return label and outbound parcels so a carrier
	// webhook, which knows only a tracking number, finds its return.
	SATracking = temporal.NewSearchAttributeKeyKeywordList("RmaTrackingNumbers")
)

// SearchAttributeTypes is what a namespace must register for rma.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAStatus.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAOrder.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SACustomer.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAKind.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASKUs.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SADeadline.GetName(): enumspb.INDEXED_VALUE_TYPE_DATETIME,
		SATracking.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	}
}

// StartSearchAttributes are the attributes known at start, so a return is
// findable by order, customer and SKU from its first moment.
func StartSearchAttributes(req domain.Request) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(startUpdates(req)...)
}

func startUpdates(req domain.Request) []temporal.SearchAttributeUpdate {
	return []temporal.SearchAttributeUpdate{
		SAStatus.ValueSet(string(domain.StatusRequested)),
		SAOrder.ValueSet(req.OrderID),
		SACustomer.ValueSet(req.Customer.ID),
		SAKind.ValueSet(string(req.Kind)),
		SASKUs.ValueSet(req.SKUs()),
	}
}

func statusUpdates(s domain.Status, deadline *domain.Deadline) []temporal.SearchAttributeUpdate {
	u := []temporal.SearchAttributeUpdate{SAStatus.ValueSet(string(s))}
	if deadline != nil {
		u = append(u, SADeadline.ValueSet(deadline.At))
	} else {
		u = append(u, SADeadline.ValueUnset())
	}
	return u
}
