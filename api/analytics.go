package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
)

// ParseRange reads from/to (RFC 3339 or YYYY-MM-DD); the default is the 30
// days before now.
func ParseRange(from, to string, now time.Time) (time.Time, time.Time, *domain.FieldError) {
	parse := func(v string) (time.Time, bool) {
		for _, layout := range []string{time.RFC3339, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	end, start := now, now.AddDate(0, 0, -30)
	var ok bool
	if to != "" {
		if end, ok = parse(to); !ok {
			return start, end, &domain.FieldError{Field: "to", Message: "must be RFC 3339 or YYYY-MM-DD"}
		}
		start = end.AddDate(0, 0, -30)
	}
	if from != "" {
		if start, ok = parse(from); !ok {
			return start, end, &domain.FieldError{Field: "from", Message: "must be RFC 3339 or YYYY-MM-DD"}
		}
	}
	if !start.Before(end) {
		return start, end, &domain.FieldError{Field: "from", Message: "must be before to"}
	}
	return start, end, nil
}

func (s *Server) analyticsStore(w http.ResponseWriter) bool {
	if s.cfg.Store == nil {
		writeErr(w, http.StatusServiceUnavailable, "no_read_model", "analytics need the PostgreSQL read model (--database-url)")
		return false
	}
	return true
}

func (s *Server) rangeOf(w http.ResponseWriter, r *http.Request) (time.Time, time.Time, bool) {
	from, to, fe := ParseRange(r.URL.Query().Get("from"), r.URL.Query().Get("to"), s.cfg.Now())
	if fe != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", fe.Field+" "+fe.Message, *fe)
		return from, to, false
	}
	return from, to, true
}

func (s *Server) kpis(w http.ResponseWriter, r *http.Request, _ Principal) {
	if !s.analyticsStore(w) {
		return
	}
	from, to, ok := s.rangeOf(w, r)
	if !ok {
		return
	}
	k, err := s.cfg.Store.KPIs(r.Context(), from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (s *Server) reasons(w http.ResponseWriter, r *http.Request, _ Principal) {
	if !s.analyticsStore(w) {
		return
	}
	g := r.URL.Query().Get("group_by")
	if g == "" {
		g = "sku"
	}
	if !store.ValidGroupBy(g) {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "group_by must be sku, batch, reason, category or supplier",
			domain.FieldError{Field: "group_by", Message: "unknown grouping"})
		return
	}
	from, to, ok := s.rangeOf(w, r)
	if !ok {
		return
	}
	rows, err := s.cfg.Store.Reasons(r.Context(), g, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_by": g, "from": from, "to": to, "rows": rows})
}

func (s *Server) anomalies(w http.ResponseWriter, r *http.Request, _ Principal) {
	if !s.analyticsStore(w) {
		return
	}
	policy, _, err := s.cfg.Returns.CurrentPolicy(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rule := policy.Anomaly
	found, err := s.cfg.Store.Anomalies(r.Context(), rule)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": rule, "anomalies": found})
}

func (s *Server) importSales(w http.ResponseWriter, r *http.Request, _ Principal) {
	if !s.analyticsStore(w) {
		return
	}
	var body struct {
		Sales []store.Sale `json:"sales"`
	}
	if !decode(w, r, &body) {
		return
	}
	var problems []domain.FieldError
	for i, x := range body.Sales {
		if x.SKU == "" || x.Batch == "" || x.UnitsSold < 0 {
			problems = append(problems, domain.FieldError{Field: "sales[" + strconv.Itoa(i) + "]", Message: "sku and batch are required, units_sold >= 0"})
		}
	}
	if len(problems) > 0 || len(body.Sales) == 0 {
		writeErr(w, http.StatusUnprocessableEntity, "validation_failed", "sales: a non-empty list of {sku, batch, units_sold}", problems...)
		return
	}
	if err := s.cfg.Store.ImportSales(r.Context(), body.Sales); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"imported": len(body.Sales)})
}
