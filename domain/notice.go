package domain

// Audiences of notices.
const (
	ToCustomer   = "customer"
	ToSupport    = "support"
	ToSupervisor = "supervisor"
	ToQuality    = "quality"
)

// Notice is a message to send, rendered by the notifier from a template in
// the recipient's locale. Notices are written to an outbox together with the
// state change that caused them and delivered by a relay, so a notice is
// never sent for a change that was not recorded, nor lost for one that was.
type Notice struct {
	To       string            `json:"to"`
	Template string            `json:"template"`
	Params   map[string]string `json:"params,omitempty"`
}
