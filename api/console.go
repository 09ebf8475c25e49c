package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

// The support console (/console/): server-rendered pages over the same
// read model and commands as the API, for support agents and warehouse
// staff. Sign-in takes an API token and keeps it in an HttpOnly,
// SameSite=Strict cookie; every form carries a CSRF value derived from the
// token. Pages come in zh-CN and en, from the browser's language or the
// switch. No build step: templates and styles are embedded.

//go:embed console/*.html
var consoleFiles embed.FS

const (
	consoleCookie = "rma_console"
	langCookie    = "rma_lang"
)

// consoleRoles may open the console.
func consoleRoles() []string { return []string{RoleSupport, RoleWarehouse} }

var consoleText = map[string]map[string]string{
	"en": {
		"queue": "Queue", "warehouse_queue": "Warehouse queue", "review_queue": "Review queue", "other_lang": "中文", "sign_out": "Sign out",
		"sign_in": "Sign in", "sign_in_help": "Paste your API token (rma token create). It stays in this browser only.",
		"waiting": "waiting", "overdue": "overdue", "team": "Team", "assignee": "Assignee", "filter": "Filter", "return": "Return",
		"status": "Status", "deadline": "Deadline", "time_left": "Time left", "breaches": "SLA breaches", "order": "Order", "tier": "Tier",
		"empty": "Nothing waiting.", "summary": "Summary", "customer": "Customer", "waiting_on": "Waiting on", "needs_attention": "Needs attention",
		"temporal_ui": "Open the workflow in the Temporal UI", "shipping": "Shipping", "tracking": "Tracking", "label": "Label", "ship_by": "ship by",
		"replacement": "Replacement", "money": "Money", "refund_total": "Refunded", "fees": "fees", "preview": "Refund preview under the return's policy:",
		"lines": "Lines", "line": "Line", "qty": "Qty", "reason": "Reason", "resolution": "Resolution", "verdict": "Policy verdict", "inspection": "Inspection",
		"photos": "Photos", "eligible": "eligible", "ineligible": "ineligible", "returnless": "returnless", "actions": "Actions", "claim": "Claim",
		"note": "Note", "approve": "Approve", "decline": "Decline", "question": "question for the customer", "request_info": "Request info",
		"add_note": "Add note", "receive": "Receive parcel", "result": "Result", "disposition": "Disposition", "pass": "pass", "fail": "fail",
		"record_inspection": "Record inspection", "timeline": "Timeline", "at": "At", "event": "Event", "actor": "Actor", "detail": "Detail",
		"forbidden": "This console is for support and warehouse staff", "forbidden_help": "Your token does not hold the support or warehouse role.",
		"done": "Done: %s.", "bad_token": "That token is not valid.",
		"override": "Override refund", "amount": "amount, e.g. 120.00", "waive_fees": "waive fees", "goodwill": "Grant goodwill",
		"store_credit": "store credit", "coupon": "coupon", "limit": "Support may move a refund, or grant goodwill, by up to %s; beyond that needs an admin.",
		"overridden": "override", "granted": "Goodwill", "partial": "some units passed", "passed_units": "units passed", "dispute": "Decide the dispute", "policy": "Policy", "refund_due": "Refund due by law", "uphold": "uphold the inspection", "overturn": "overturn: the line passes",
	},
	"zh-CN": {
		"queue": "队列", "warehouse_queue": "仓库队列", "review_queue": "审核队列", "other_lang": "English", "sign_out": "退出",
		"sign_in": "登录", "sign_in_help": "粘贴您的 API 令牌（rma token create 生成），仅保存在本浏览器中。",
		"waiting": "待处理", "overdue": "已超时", "team": "团队", "assignee": "处理人", "filter": "筛选", "return": "退货单",
		"status": "状态", "deadline": "截止", "time_left": "剩余时间", "breaches": "SLA 超时", "order": "订单", "tier": "等级",
		"empty": "暂无待处理。", "summary": "概要", "customer": "客户", "waiting_on": "等待", "needs_attention": "需要人工处理",
		"temporal_ui": "在 Temporal UI 中查看工作流", "shipping": "物流", "tracking": "运单号", "label": "面单", "ship_by": "寄出截止",
		"replacement": "换货", "money": "金额", "refund_total": "已退款", "fees": "费用", "preview": "按本退货单政策的退款预估：",
		"lines": "商品行", "line": "行", "qty": "数量", "reason": "原因", "resolution": "处理方式", "verdict": "政策判定", "inspection": "质检",
		"photos": "照片", "eligible": "符合条件", "ineligible": "不符合", "returnless": "无需寄回", "actions": "操作", "claim": "认领",
		"note": "备注", "approve": "批准", "decline": "拒绝", "question": "向客户提问", "request_info": "请求补充信息",
		"add_note": "添加备注", "receive": "签收包裹", "result": "结果", "disposition": "处置", "pass": "通过", "fail": "不通过",
		"record_inspection": "记录质检", "timeline": "时间线", "at": "时间", "event": "事件", "actor": "操作人", "detail": "详情",
		"forbidden": "此控制台仅供客服与仓库人员使用", "forbidden_help": "您的令牌没有 support 或 warehouse 角色。",
		"done": "已完成：%s。", "bad_token": "令牌无效。",
		"override": "调整退款", "amount": "金额，如 120.00", "waive_fees": "免除费用", "goodwill": "发放补偿",
		"store_credit": "余额", "coupon": "优惠券", "limit": "客服可调整退款或发放补偿的上限为 %s，超出需管理员操作。",
		"overridden": "已调整", "granted": "补偿", "partial": "部分通过", "passed_units": "通过件数", "dispute": "处理申诉", "policy": "政策", "refund_due": "法定退款期限", "uphold": "维持质检结果", "overturn": "撤销：该行通过",
	},
}

// consolePage is what every page template gets.
type consolePage struct {
	Lang, Other, Title, Who, CSRF, Flash, Error string
	Warehouse                                   bool
	// queue
	Queue, Team, Assignee string
	Items                 []store.QueueItem
	Overdue               int
	// return
	R            domain.Return
	Preview      []domain.LineRefund
	TemporalLink string
	// Limit says how far support may move money alone (the policy's
	// overrides.support_limit).
	Limit   string
	Actions bool
	Can     map[string]bool
}

func consoleLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "zh-CN" {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh-CN") {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh-CN"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "zh-CN"
}

// consoleTemplates parses the pages once per language (at New).
func consoleTemplates() map[string]*template.Template {
	out := map[string]*template.Template{}
	for lang := range consoleText {
		out[lang] = consoleTemplate(lang)
	}
	return out
}

func consoleTemplate(lang string) *template.Template {
	funcs := template.FuncMap{
		"t": func(k string) string {
			if v, ok := consoleText[lang][k]; ok {
				return v
			}
			return k
		},
		"fmtTime": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return v.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if v != nil {
					return v.UTC().Format("2006-01-02 15:04 UTC")
				}
			}
			return "-"
		},
		"left": func(sec *int64) string {
			if sec == nil {
				return "-"
			}
			d := time.Duration(*sec) * time.Second
			if d < 0 {
				return "-" + (-d).Round(time.Minute).String()
			}
			return d.Round(time.Minute).String()
		},
		"join":  func(v []string) string { return strings.Join(v, ", ") },
		"deref": func(w *domain.WaitingOn) string { return string(*w) },
	}
	return template.Must(template.New("console").Funcs(funcs).ParseFS(consoleFiles, "console/*.html"))
}

// consoleCSRF is the form value that proves a POST came from a console
// page: a MAC of the session's token, which another site cannot know.
func consoleCSRF(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("rma console csrf"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// consoleSession is the signed-in principal, from the console cookie.
func (s *Server) consoleSession(r *http.Request) (Principal, string, *refusal) {
	c, err := r.Cookie(consoleCookie)
	if err != nil || c.Value == "" {
		return Principal{}, "", &refusal{status: http.StatusUnauthorized}
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+c.Value)
	p, no := s.authorize(r2, consoleRoles())
	return p, c.Value, no
}

func (s *Server) consoleRender(w http.ResponseWriter, r *http.Request, status int, name string, page consolePage) {
	lang := consoleLang(r)
	page.Lang, page.Other = lang, map[string]string{"en": "zh-CN", "zh-CN": "en"}[lang]
	if done := r.URL.Query().Get("done"); done != "" && page.Flash == "" {
		page.Flash = fmt.Sprintf(consoleText[lang]["done"], done)
	}
	if e := r.URL.Query().Get("error"); e != "" && page.Error == "" {
		page.Error = e
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src * data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := s.console[lang].ExecuteTemplate(w, name, page); err != nil {
		s.log.Error("console page", zap.String("page", name), zap.Error(err))
	}
}

// consoleHandler serves /console/.
func (s *Server) consoleHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/signin", func(w http.ResponseWriter, r *http.Request) {
		s.consoleRender(w, r, http.StatusOK, "signin.html", consolePage{Title: "Sign in"})
	})
	mux.HandleFunc("POST /console/signin", func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimSpace(r.PostFormValue("token"))
		r2 := r.Clone(r.Context())
		r2.Header.Set("Authorization", "Bearer "+tok)
		if _, err := s.authenticate(r2); err != nil {
			s.consoleRender(w, r, http.StatusUnauthorized, "signin.html", consolePage{Title: "Sign in", Error: consoleText[consoleLang(r)]["bad_token"]})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: tok, Path: "/console/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /console/signout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /console/{$}", s.consolePage(s.consoleQueue))
	mux.HandleFunc("GET /console/returns/{id}", s.consolePage(s.consoleReturn))
	mux.HandleFunc("POST /console/returns/{id}/{action}", s.consolePage(s.consoleAction))
	// The language switch sticks, whatever page it was chosen on (a
	// sign-in redirect included).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := r.URL.Query().Get("lang"); l == "en" || l == "zh-CN" {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/console/", SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
			r.AddCookie(&http.Cookie{Name: langCookie, Value: l})
		}
		mux.ServeHTTP(w, r)
	})
}

// consolePage signs the request in: no cookie goes to the sign-in page, a
// token without a console role gets the forbidden page.
func (s *Server) consolePage(h func(w http.ResponseWriter, r *http.Request, p Principal, token string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, tok, no := s.consoleSession(r)
		switch {
		case no != nil && no.status == http.StatusUnauthorized:
			http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
			return
		case no != nil && no.status == http.StatusForbidden:
			s.consoleRender(w, r, http.StatusForbidden, "forbidden.html", consolePage{Title: "Forbidden", Who: p.Subject})
			return
		case no != nil:
			http.Error(w, no.msg, no.status)
			return
		}
		h(w, r, p, tok)
	}
}

func (s *Server) consoleQueue(w http.ResponseWriter, r *http.Request, p Principal, tok string) {
	q := r.URL.Query()
	f := store.QueueFilter{Queue: q.Get("role"), Team: q.Get("team"), Assignee: q.Get("assignee")}
	if f.Queue != store.QueueWarehouse || !p.has([]string{RoleWarehouse}) {
		f.Queue = store.QueueSupport
		if !p.has([]string{RoleSupport}) {
			f.Queue = store.QueueWarehouse
		}
	}
	assignee := f.Assignee
	if f.Assignee == "me" {
		f.Assignee = p.Subject
	}
	items, err := s.cfg.Store.Queue(r.Context(), f, s.cfg.Now())
	page := consolePage{Title: "Queue", Who: p.Subject, CSRF: consoleCSRF(tok), Warehouse: p.has([]string{RoleWarehouse}) && p.has([]string{RoleSupport}),
		Queue: f.Queue, Team: f.Team, Assignee: assignee, Items: items}
	if err != nil {
		page.Error = err.Error()
	}
	for _, it := range items {
		if it.Overdue {
			page.Overdue++
		}
	}
	s.consoleRender(w, r, http.StatusOK, "queue.html", page)
}

func (s *Server) consoleReturn(w http.ResponseWriter, r *http.Request, p Principal, tok string) {
	id := r.PathValue("id")
	ret, err := s.cfg.Store.Get(r.Context(), id)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, starter.ErrNotFound) {
			status = http.StatusNotFound
		}
		s.consoleRender(w, r, status, "queue.html", consolePage{Title: "Queue", Who: p.Subject, CSRF: consoleCSRF(tok), Error: id + ": " + err.Error()})
		return
	}
	page := consolePage{Title: ret.ID, Who: p.Subject, CSRF: consoleCSRF(tok), R: ret, Can: map[string]bool{},
		TemporalLink: strings.TrimRight(s.cfg.TemporalUIURL, "/") + "/namespaces/" + url.PathEscape(s.cfg.Namespace) + "/workflows/" + url.PathEscape(workflows.WorkflowID(ret.ID))}
	if policy, ok := s.policyOf(r.Context(), ret); ok {
		req := ret.Request()
		var in []domain.RefundInput
		for _, l := range ret.Lines {
			if l.Eligible && !l.Returnless {
				in = append(in, policy.RefundInputFor(req, l.Line, l.Reason, l.Value()))
			}
		}
		page.Preview = domain.ComputeRefunds(policy, in, ret.TrackingNumber != "")
		for i, rf := range page.Preview {
			if l := ret.Line(rf.LineID); l != nil {
				page.Preview[i] = l.Override.Apply(rf)
			}
		}
		limit := policy.Overrides.SupportLimit
		page.Limit = fmt.Sprintf(consoleText[consoleLang(r)]["limit"], domain.Money{Amount: limit, Currency: ret.RefundTotal.Currency})
	}
	support, warehouse := p.has([]string{RoleSupport}), p.has([]string{RoleWarehouse})
	waiting := func(on domain.WaitingOn) bool { return ret.WaitingOn != nil && *ret.WaitingOn == on }
	review := ret.Status == domain.StatusPendingReview || ret.Status == domain.StatusInfoRequested
	page.Can["claim"] = ret.Assignee != p.Subject && ((support && !ret.Status.Final()) || (warehouse && waiting(domain.WaitingWarehouse)))
	page.Can["approve"], page.Can["decline"] = support && review, support && review
	page.Can["request_info"] = support && ret.Status == domain.StatusPendingReview
	page.Can["note"] = support && !ret.Status.Final()
	expecting := ret.Status == domain.StatusAwaitingShipment || ret.Status == domain.StatusInTransit
	page.Can["receive"] = warehouse && expecting && ret.TrackingNumber != ""
	uninspected := false
	for _, l := range ret.Lines {
		uninspected = uninspected || (l.Inspection == nil && !l.Returnless)
	}
	overridable := false
	for _, l := range ret.Lines {
		overridable = overridable || (l.Eligible && l.Resolution.PaysMoney() && l.Refund == nil)
	}
	page.Can["override"] = support && overridable && !ret.Status.Final()
	page.Can["goodwill"] = support && !ret.Status.Final()
	page.Can["dispute"] = support && ret.Deadline != nil && ret.Deadline.Kind == "dispute"
	page.Can["inspect"] = warehouse && uninspected && (ret.Status == domain.StatusReceived || ret.Status == domain.StatusInspecting || waiting(domain.WaitingWarehouse))
	for _, ok := range page.Can {
		page.Actions = page.Actions || ok
	}
	s.consoleRender(w, r, http.StatusOK, "return.html", page)
}

// consoleAction sends a form's command through the same update the API
// uses, as the signed-in principal, and goes back to the return's page.
func (s *Server) consoleAction(w http.ResponseWriter, r *http.Request, p Principal, tok string) {
	id := r.PathValue("id")
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(consoleCSRF(tok))) {
		http.Error(w, "the form is stale or not from this console; reload the page", http.StatusForbidden)
		return
	}
	back := "/console/returns/" + url.PathEscape(id)
	var name string
	var in interface {
		Validate() error
		SetActorRoles([]string)
	}
	form := r.PostFormValue
	switch r.PathValue("action") {
	case "claim":
		name, in = workflows.UpdateAssign, &workflows.AssignInput{Actor: p.Subject, Assignee: p.Subject}
	case "approve":
		name, in = workflows.UpdateApprove, &workflows.ApproveInput{Actor: p.Subject, Note: form("note")}
	case "decline":
		name, in = workflows.UpdateDecline, &workflows.DeclineInput{Actor: p.Subject, Reason: form("reason")}
	case "request-info":
		name, in = workflows.UpdateRequestInfo, &workflows.RequestInfoInput{Actor: p.Subject, Question: form("question")}
	case "note":
		name, in = workflows.UpdateNote, &workflows.NoteInput{Actor: p.Subject, Note: form("note")}
	case "receive":
		name, in = workflows.UpdateReceive, &workflows.ReceiveInput{Actor: p.Subject}
	case "inspection":
		ins := workflows.InspectionInput{Actor: p.Subject}
		for _, line := range r.PostForm["line"] {
			it := workflows.InspectionItem{LineID: line, Result: domain.InspectionResult(form("result_" + line)), Disposition: domain.Disposition(form("disposition_" + line)), Note: form("note_" + line)}
			it.Photos = append(it.Photos, strings.Fields(strings.ReplaceAll(form("photos_"+line), ",", " "))...)
			if it.Result == domain.InspectionPartial {
				n, err := strconv.Atoi(strings.TrimSpace(form("passed_" + line)))
				if err != nil {
					http.Redirect(w, r, back+"?error="+url.QueryEscape(line+": a partial result needs the units that passed"), http.StatusSeeOther)
					return
				}
				it.PassedUnits = n
				if it.Disposition == domain.DispositionReturnToCustomer || it.Disposition == domain.DispositionDispose {
					// The disposition chosen names where the failed
					// units go; the passed ones go back on the shelf.
					it.Disposition, it.FailDisposition = domain.DispositionRestock, it.Disposition
				}
			}
			ins.Items = append(ins.Items, it)
		}
		name, in = workflows.UpdateInspection, &ins
	case "override-refund":
		o := workflows.OverrideRefundInput{Actor: p.Subject, LineID: form("line"), WaiveFees: form("waive_fees") != "", Reason: form("reason")}
		if a := strings.TrimSpace(form("amount")); a != "" {
			m, err := domain.ParseAmount(a, form("currency"))
			if err != nil {
				http.Redirect(w, r, back+"?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
				return
			}
			o.Amount = &m
		}
		name, in = workflows.UpdateOverrideRefund, &o
	case "dispute-decision":
		name, in = workflows.UpdateDisputeDecision, &workflows.DisputeDecisionInput{Actor: p.Subject, LineID: form("line"), Decision: form("decision"), Note: form("note")}
	case "goodwill":
		m, err := domain.ParseAmount(form("amount"), form("currency"))
		if err != nil {
			http.Redirect(w, r, back+"?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
			return
		}
		name, in = workflows.UpdateGoodwill, &workflows.GoodwillInput{Actor: p.Subject, Amount: m, Kind: form("kind"), Reason: form("reason")}
	default:
		http.NotFound(w, r)
		return
	}
	if !p.has(workflows.CommandRoles(name)) {
		http.Redirect(w, r, back+"?error="+url.QueryEscape("your role may not "+name), http.StatusSeeOther)
		return
	}
	in.SetActorRoles(p.Roles)
	if err := in.Validate(); err != nil {
		http.Redirect(w, r, back+"?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	if _, err := s.cfg.Returns.Update(ctx, id, name, "", in); err != nil {
		http.Redirect(w, r, back+"?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	s.log.Info("console command", zap.String("rma_id", id), zap.String("command", name), zap.String("subject", p.Subject))
	http.Redirect(w, r, back+"?done="+url.QueryEscape(r.PathValue("action")), http.StatusSeeOther)
}

// policyOf is the policy a return runs under: its stored version, or the
// current policy for a return started from a policy file.
func (s *Server) policyOf(ctx context.Context, ret domain.Return) (domain.Policy, bool) {
	if ret.PolicyVersion > 0 && s.cfg.Store != nil {
		if v, err := s.cfg.Store.PolicyAt(ctx, ret.PolicyVersion); err == nil {
			if p, err := v.Policy(); err == nil {
				return p, true
			}
		}
	}
	if s.cfg.Returns == nil {
		return domain.Policy{}, false
	}
	p, _, err := s.cfg.Returns.CurrentPolicy(ctx)
	return p, err == nil
}
