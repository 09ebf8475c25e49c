package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

// returnsBackend is what `rma return` commands act through: Temporal and
// the read model directly (operators), or the HTTP API with a token
// (agents and analysts on their own machines, --api/RMA_API_URL).
type returnsBackend interface {
	Create(ctx context.Context, key string, req domain.Request) (domain.Return, error)
	Get(ctx context.Context, id string) (domain.Return, error)
	List(ctx context.Context, f starter.Filter, size int) ([]starter.Summary, error)
	// Command sends an update (workflows.Update*) and answers the return
	// as it stands after it. Claim is UpdateAssign to the caller.
	Command(ctx context.Context, id, name string, arg any) (domain.Return, error)
	Claim(ctx context.Context, id string) (domain.Return, error)
	Survey(ctx context.Context, id string, in workflows.SurveyInput) (domain.Return, error)
	Queue(ctx context.Context, f store.QueueFilter) (queueList, error)
	Late(ctx context.Context) (lateList, error)
	Extend(ctx context.Context, req api.ExtendRequest, key string) (starter.ExtendReport, error)
	Stuck(ctx context.Context) (stuckList, error)
}

// lateList and stuckList are on-call's lists (rma ops).
type lateList struct {
	At    time.Time        `json:"at"`
	Items []store.LateItem `json:"items"`
}

type stuckList struct {
	Items []store.StuckItem `json:"items"`
}

// queueList is a work queue as GET /v1/queue answers it.
type queueList struct {
	Queue   string            `json:"queue"`
	Overdue int               `json:"overdue"`
	Items   []store.QueueItem `json:"items"`
}

// directBackend talks to Temporal and the read model itself. It acts as
// admin: only operators reach Temporal (the update validators check roles).
type directBackend struct {
	s     *starter.Client
	st    *store.Store // nil without a read model
	actor string
}

func (d directBackend) Create(ctx context.Context, key string, req domain.Request) (domain.Return, error) {
	res, err := d.s.Create(ctx, key, req, d.actor)
	return res.Return, err
}

func (d directBackend) Get(ctx context.Context, id string) (domain.Return, error) {
	return d.s.Get(ctx, id)
}

func (d directBackend) List(ctx context.Context, f starter.Filter, size int) ([]starter.Summary, error) {
	if d.st != nil {
		items, _, err := d.st.List(ctx, store.Filter{Status: f.Status, OrderID: f.OrderID, CustomerID: f.CustomerID, SKU: f.SKU}, size, "")
		out := make([]starter.Summary, 0, len(items))
		for _, it := range items {
			out = append(out, starter.Summary{ID: it.ID, Status: it.Status, OrderID: it.OrderID, CustomerID: it.CustomerID, Kind: it.Kind, SKUs: it.SKUs, Deadline: it.Deadline, CreatedAt: it.CreatedAt})
		}
		return out, err
	}
	p, err := d.s.List(ctx, f, size, nil)
	return p.Items, err
}

func (d directBackend) Command(ctx context.Context, id, name string, arg any) (domain.Return, error) {
	if v, ok := arg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return domain.Return{}, err
		}
	}
	if a, ok := arg.(interface{ SetActorRoles([]string) }); ok {
		a.SetActorRoles([]string{domain.RoleAdmin})
	}
	if _, err := d.s.Update(ctx, id, name, "", arg); err != nil {
		return domain.Return{}, err
	}
	return d.s.Get(ctx, id)
}

func (d directBackend) Claim(ctx context.Context, id string) (domain.Return, error) {
	return d.Command(ctx, id, workflows.UpdateAssign, &workflows.AssignInput{Actor: d.actor, Assignee: d.actor})
}

func (d directBackend) Survey(ctx context.Context, id string, in workflows.SurveyInput) (domain.Return, error) {
	if d.st == nil {
		return domain.Return{}, errors.New("the survey lives in the read model: give --database-url (or use --api)")
	}
	in.Actor = d.actor
	if err := in.Validate(); err != nil {
		return domain.Return{}, err
	}
	return d.st.AnswerSurvey(ctx, id, domain.Survey{Score: in.Score, Comment: in.Comment}, in.Actor, time.Now())
}

func (d directBackend) Queue(ctx context.Context, f store.QueueFilter) (queueList, error) {
	if d.st == nil {
		return queueList{}, errors.New("the queue is read from the read model: give --database-url (or use --api)")
	}
	if f.Assignee == "me" {
		f.Assignee = d.actor
	}
	if f.Queue == "" {
		f.Queue = store.QueueSupport
	}
	items, err := d.st.Queue(ctx, f, time.Now())
	q := queueList{Queue: f.Queue, Items: items}
	for _, it := range items {
		if it.Overdue {
			q.Overdue++
		}
	}
	return q, err
}

func (d directBackend) Late(ctx context.Context) (lateList, error) {
	if d.st == nil {
		return lateList{}, errors.New("late returns are read from the read model: give --database-url (or use --api)")
	}
	now := time.Now().UTC()
	items, err := d.st.Late(ctx, now, 1000)
	return lateList{At: now, Items: items}, err
}

func (d directBackend) Stuck(ctx context.Context) (stuckList, error) {
	if d.st == nil {
		return stuckList{}, errors.New("stuck returns are read from the read model: give --database-url (or use --api)")
	}
	items, err := d.st.Stuck(ctx, 1000)
	return stuckList{Items: items}, err
}

func (d directBackend) Extend(ctx context.Context, req api.ExtendRequest, key string) (starter.ExtendReport, error) {
	if d.st == nil {
		return starter.ExtendReport{}, errors.New("the dry run reads deadlines from the read model: give --database-url (or use --api)")
	}
	in := workflows.ExtendInput{Actor: d.actor, By: req.By, Reason: req.Reason}
	in.SetActorRoles([]string{domain.RoleAdmin})
	if req.Limit == 0 {
		req.Limit = 200
	}
	return d.s.ExtendMatching(ctx, req.Query, in, key, req.DryRun, req.Limit, d.st.Get)
}

// apiBackend is the HTTP API with a bearer token: what the token's roles
// allow, and nothing else.
type apiBackend struct {
	base, token string
	hc          *http.Client
}

func newAPIBackend(base, token string) (apiBackend, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apiBackend{}, fmt.Errorf("--api %q: want the API's URL, e.g. https://rma.example.com", base)
	}
	if token == "" {
		return apiBackend{}, errors.New("--api needs a token: --token or RMA_TOKEN (rma token create makes one)")
	}
	return apiBackend{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 60 * time.Second}}, nil
}

// apiError is an API error answer, shown as the API gave it.
type apiError struct {
	Status  int
	Code    string
	Message string
	Fields  []domain.FieldError
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("refused (%s, HTTP %d): %s", e.Code, e.Status, e.Message)
	for _, f := range e.Fields {
		msg += "\n  " + f.Field + ": " + f.Message
	}
	return msg
}

func (a apiBackend) call(ctx context.Context, method, path string, in, out any) error {
	return a.callKey(ctx, method, path, "", in, out)
}

// callKey sends a request with an Idempotency-Key (when key is set).
func (a apiBackend) callKey(ctx context.Context, method, path, key string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach the API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct {
				Code    string              `json:"code"`
				Message string              `json:"message"`
				Fields  []domain.FieldError `json:"details"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		if eb.Error.Code == "" {
			eb.Error.Code, eb.Error.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(raw))
		}
		return &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Fields: eb.Error.Fields}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// paths of the API's command routes, by update name.
func commandPath(name string) string {
	switch name {
	case workflows.UpdateNote:
		return "notes"
	case workflows.UpdateResolveAttention:
		return "attention"
	}
	return name
}

func (a apiBackend) Create(ctx context.Context, key string, req domain.Request) (domain.Return, error) {
	var r domain.Return
	return r, a.callKey(ctx, http.MethodPost, "/v1/returns", key, req, &r)
}

func (a apiBackend) Get(ctx context.Context, id string) (domain.Return, error) {
	var r domain.Return
	return r, a.call(ctx, http.MethodGet, "/v1/returns/"+url.PathEscape(id), nil, &r)
}

func (a apiBackend) List(ctx context.Context, f starter.Filter, size int) ([]starter.Summary, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "order_id": f.OrderID, "customer_id": f.CustomerID, "sku": f.SKU} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("page_size", strconv.Itoa(min(max(size, 1), 200)))
	var page struct {
		Items []starter.Summary `json:"items"`
	}
	return page.Items, a.call(ctx, http.MethodGet, "/v1/returns?"+q.Encode(), nil, &page)
}

func (a apiBackend) Command(ctx context.Context, id, name string, arg any) (domain.Return, error) {
	var r domain.Return
	return r, a.call(ctx, http.MethodPost, "/v1/returns/"+url.PathEscape(id)+"/"+commandPath(name), arg, &r)
}

func (a apiBackend) Claim(ctx context.Context, id string) (domain.Return, error) {
	var r domain.Return
	return r, a.call(ctx, http.MethodPost, "/v1/returns/"+url.PathEscape(id)+"/claim", nil, &r)
}

func (a apiBackend) Survey(ctx context.Context, id string, in workflows.SurveyInput) (domain.Return, error) {
	var r domain.Return
	return r, a.call(ctx, http.MethodPost, "/v1/returns/"+url.PathEscape(id)+"/survey", in, &r)
}

func (a apiBackend) Queue(ctx context.Context, f store.QueueFilter) (queueList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"role": f.Queue, "team": f.Team, "assignee": f.Assignee} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out queueList
	return out, a.call(ctx, http.MethodGet, "/v1/queue?"+q.Encode(), nil, &out)
}

func (a apiBackend) Late(ctx context.Context) (lateList, error) {
	var out lateList
	return out, a.call(ctx, http.MethodGet, "/v1/ops/late", nil, &out)
}

func (a apiBackend) Stuck(ctx context.Context) (stuckList, error) {
	var out stuckList
	return out, a.call(ctx, http.MethodGet, "/v1/ops/stuck", nil, &out)
}

func (a apiBackend) Extend(ctx context.Context, req api.ExtendRequest, key string) (starter.ExtendReport, error) {
	var out starter.ExtendReport
	// The API may work on a bulk extension for up to five minutes.
	a.hc = &http.Client{Timeout: 6 * time.Minute}
	return out, a.callKey(ctx, http.MethodPost, "/v1/ops/extend", key, req, &out)
}
