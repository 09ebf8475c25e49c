package domain

// Roles a token or an actor holds. admin may do anything any role may.
const (
	RoleBackend   = "backend"
	RoleSupport   = "support"
	RoleWarehouse = "warehouse"
	RoleCustomer  = "customer"
	RoleAnalyst   = "analyst"
	RoleAdmin     = "admin"
)

// HasAnyRole reports whether have grants one of want (admin grants all).
func HasAnyRole(have, want []string) bool {
	for _, h := range have {
		if h == RoleAdmin {
			return true
		}
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}
