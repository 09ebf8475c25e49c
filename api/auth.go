package api

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
)

// Roles (domain's, named here for callers of the API package).
const (
	RoleBackend   = domain.RoleBackend
	RoleSupport   = domain.RoleSupport
	RoleWarehouse = domain.RoleWarehouse
	RoleCustomer  = domain.RoleCustomer
	RoleAnalyst   = domain.RoleAnalyst
	RoleAdmin     = domain.RoleAdmin
)

// AllRoles is every role (what RMA_DEV_TOKEN gets).
func AllRoles() []string {
	return []string{RoleBackend, RoleSupport, RoleWarehouse, RoleCustomer, RoleAnalyst, RoleAdmin}
}

// ValidRole reports whether r is one of AllRoles.
func ValidRole(r string) bool {
	for _, x := range AllRoles() {
		if x == r {
			return true
		}
	}
	return false
}

// Principal is who a bearer token stands for. A customer token acts for
// one customer: CustomerID is set, and it sees and commands only that
// customer's returns.
type Principal struct {
	Subject    string
	Roles      []string
	CustomerID string
	// key identifies the token for rate limits (its hash).
	key [32]byte
}

func (p Principal) has(roles []string) bool { return domain.HasAnyRole(p.Roles, roles) }

// scoped reports whether the principal acts for one customer only.
func (p Principal) scoped() bool { return p.CustomerID != "" }

// ValidatePrincipal checks a token's roles and scope: known roles, at least
// one, and a customer token that names its customer and holds no staff role
// (a token either acts for one customer or for the merchant).
func ValidatePrincipal(roles []string, customerID string) error {
	if len(roles) == 0 {
		return errors.New("a token needs at least one role")
	}
	customer := false
	for _, r := range roles {
		if !ValidRole(r) {
			return fmt.Errorf("unknown role %q (roles: %s)", r, strings.Join(AllRoles(), ", "))
		}
		customer = customer || r == RoleCustomer
	}
	switch {
	case customer && customerID == "":
		return errors.New("a customer token acts for one customer: give its customer ID")
	case customer && len(roles) > 1:
		return errors.New("a customer token may hold no other role")
	case !customer && customerID != "":
		return errors.New("only a customer token names a customer")
	}
	return nil
}

// ParseTokens reads "token=role+role:subject,token2=role" (RMA_TOKENS). A
// customer token's subject is the customer ID it acts for.
func ParseTokens(spec string) (map[string]Principal, error) {
	out := map[string]Principal{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tok, rest, ok := strings.Cut(item, "=")
		if !ok || tok == "" || rest == "" {
			return nil, fmt.Errorf("token entry %q: want token=role+role[:subject]", redactToken(item))
		}
		roles, subject, _ := strings.Cut(rest, ":")
		p := Principal{Subject: subject, Roles: strings.Split(roles, "+")}
		for _, r := range p.Roles {
			if r == RoleCustomer {
				p.CustomerID = subject
			}
		}
		if err := ValidatePrincipal(p.Roles, p.CustomerID); err != nil {
			return nil, fmt.Errorf("token entry %q: %w", redactToken(item), err)
		}
		if p.Subject == "" {
			p.Subject = p.Roles[0]
		}
		out[tok] = p
	}
	return out, nil
}

// redactToken keeps a token's value out of error messages.
func redactToken(item string) string {
	if _, rest, ok := strings.Cut(item, "="); ok {
		return "…=" + rest
	}
	return "…"
}

// authenticate finds the principal of the request's bearer token: a static
// token, or one made with rma token create (looked up by hash).
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return Principal{}, errNoToken
	}
	key := sha256.Sum256([]byte(tok))
	if p, ok := s.static[key]; ok {
		p.key = key
		return p, nil
	}
	if s.cfg.Store == nil || !store.TokenShape(tok) {
		// Only what rma token create makes costs a database lookup.
		return Principal{}, errNoToken
	}
	t, err := s.cfg.Store.LookupToken(r.Context(), tok, s.cfg.Now())
	if errors.Is(err, store.ErrNoToken) {
		return Principal{}, errNoToken
	}
	if err != nil {
		return Principal{}, err
	}
	if ValidatePrincipal(t.Roles, t.CustomerID) != nil {
		// A row written past rma token create (a customer role without
		// its customer) must not act unscoped.
		s.log.Warn("token refused: invalid roles or scope", zap.String("token_id", t.ID))
		return Principal{}, errNoToken
	}
	return Principal{Subject: t.Subject, Roles: t.Roles, CustomerID: t.CustomerID, key: key}, nil
}

var errNoToken = errors.New("no valid token")

// refusal is why authorize turned a request away.
type refusal struct {
	status     int
	code, msg  string
	retryAfter time.Duration // set for 429
}

// authorize finds the request's principal, takes the request from its
// token's rate limit, and checks it holds one of roles. Every guarded
// route and the codec server go through it.
func (s *Server) authorize(r *http.Request, roles []string) (Principal, *refusal) {
	p, err := s.authenticate(r)
	switch {
	case errors.Is(err, errNoToken):
		return p, &refusal{status: http.StatusUnauthorized, code: "unauthorized", msg: "a valid Authorization: Bearer <token> header is required"}
	case err != nil:
		s.log.Error("token lookup failed", zap.String("rma_id", r.PathValue("id")), zap.Error(err))
		return p, &refusal{status: http.StatusServiceUnavailable, code: "unavailable", msg: "tokens cannot be checked right now; retry shortly"}
	}
	if wait, ok := s.limits.allow(p.key); !ok {
		return p, &refusal{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: wait,
			msg: fmt.Sprintf("too many requests with this token; retry in %s", wait.Round(time.Second))}
	}
	if !p.has(roles) {
		return p, &refusal{status: http.StatusForbidden, code: "forbidden", msg: fmt.Sprintf("this endpoint needs one of the roles %v", roles)}
	}
	return p, nil
}

func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var p Principal
		if rt.roles != nil {
			var no *refusal
			if p, no = s.authorize(r, rt.roles); no != nil {
				if no.retryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(no.retryAfter.Seconds()))))
				}
				writeErr(w, no.status, no.code, no.msg)
				return
			}
		}
		rt.handle(w, r, p)
		s.log.Debug("request", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("rma_id", r.PathValue("id")),
			zap.String("subject", p.Subject), zap.Duration("took", time.Since(start)))
	}
}

// limiter is a token bucket per API token.
type limiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	by    map[[32]byte]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(perSecond)))
	}
	return &limiter{rate: rate.Limit(perSecond), burst: burst, by: map[[32]byte]*rate.Limiter{}}
}

// allow takes one request from the token's bucket, or says how long until
// one is free.
func (l *limiter) allow(key [32]byte) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	lim, ok := l.by[key]
	if !ok {
		if len(l.by) >= 10000 {
			// Forget tokens whose bucket is full again: they are idle.
			for k, v := range l.by {
				if v.Tokens() >= float64(l.burst) {
					delete(l.by, k)
				}
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.by[key] = lim
	}
	l.mu.Unlock()
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return d, false
	}
	return 0, true
}
