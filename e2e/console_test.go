package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rma-dev/rma/domain"
)

// browser starts headless Chromium (Debian's chromium package; .ci/run
// installs it) for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install -y chromium; .ci/run does): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	return ctx
}

// shot saves a screenshot of the page under docs/img for the README.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "img", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("wait for %s: %v", sel, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitFlash waits for the page the action leads to: its flash names the
// action, or its error says why it failed.
func waitFlash(t *testing.T, ctx context.Context, action string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("error")||{}).textContent||""`)); err == nil && e != "" {
			t.Fatalf("%s failed in the console: %s", action, e)
		}
		if f, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("flash")||{}).textContent||""`)); err == nil && strings.Contains(f, action) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no page after %s", action)
}

// waitError waits for the page a refused action leads to, and checks why.
func waitError(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("error")||{}).textContent||""`)); err == nil && e != "" {
			if !strings.Contains(e, want) {
				t.Fatalf("the console's error %q does not say %q", e, want)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no error page saying %q", want)
}

func mustReq(t *testing.T, method, url, form string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

func signIn(t *testing.T, ctx context.Context, d *dev, tok, lang string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(d.url("/console/?lang="+lang)),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), tok),
		chromedp.Click(chromedp.CSS("#signin")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
}

// TestConsoleInABrowser drives the support console in headless Chromium:
// an agent works the review queue and approves a return; a warehouse
// user receives and inspects it; a customer token cannot open the
// console. The screenshots in docs/img come from this run.
func TestConsoleInABrowser(t *testing.T) {
	if err := os.MkdirAll(filepath.Join("..", "docs", "img"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := newDev(t, "")
	amy := d.token("--role", "support", "--subject", "support:amy")
	wu := d.token("--role", "warehouse", "--subject", "warehouse:wu")
	cust := d.token("--role", "customer", "--customer", "C-CON-1")
	id := d.create(returnRequest("SO-CON-1", "C-CON-1", "SKU-RED-M", 19900, "changed_mind", "refund"))
	other := d.create(returnRequest("SO-CON-2", "C-CON-2", "SKU-LAMP", 9900, "size_fit", "refund"))
	d.waitStatus(id, domain.StatusPendingReview)
	d.waitStatus(other, domain.StatusPendingReview)
	ctx := browser(t)

	// The agent: the queue, soonest deadline first, then the return.
	signIn(t, ctx, d, amy, "en")
	if got := text(t, ctx, "#queue"); !strings.Contains(got, id) || !strings.Contains(got, other) || strings.Index(got, id) > strings.Index(got, other) {
		t.Fatalf("queue page:\n%s", got)
	}
	shot(t, ctx, "console-queue.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="`+id+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#act-approve"))); err != nil {
		t.Fatalf("open the return: %v", err)
	}
	if got := text(t, ctx, "#actions"); strings.Contains(got, "Receive parcel") {
		t.Fatalf("support sees a warehouse action:\n%s", got)
	}
	if got := text(t, ctx, "#preview"); !strings.Contains(got, "L1") {
		t.Fatalf("no refund preview: %s", got)
	}
	if got := text(t, ctx, "#policy"); !strings.Contains(got, "Policy v1") {
		t.Fatalf("the policy version the return runs under: %q", got)
	}
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#temporal-link"), "href"))
	if err != nil || !strings.Contains(link.Value, "/namespaces/default/workflows/return%2F"+id) {
		t.Fatalf("Temporal UI link %q: %v", link.Value, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#act-claim"))); err != nil {
		t.Fatalf("claim: %v", err)
	}
	waitFlash(t, ctx, "claim")
	if got := text(t, ctx, "#assignee"); got != "support:amy" {
		t.Fatalf("assignee after the claim: %q", got)
	}
	shot(t, ctx, "console-return.png")
	// Money: moving the refund beyond the support limit needs an admin,
	// and the console says so; waiving the fees is within it.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#override input[name="amount"]`), "100.00"),
		chromedp.SendKeys(chromedp.CSS(`#override input[name="reason"]`), "scuffed"),
		chromedp.Click(chromedp.CSS("#act-override"))); err != nil {
		t.Fatalf("override beyond the limit: %v", err)
	}
	waitError(t, ctx, "the admin role is needed")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(d.url("/console/returns/"+id)),
		chromedp.WaitVisible(chromedp.CSS("#act-override")),
		chromedp.Click(chromedp.CSS(`#override input[name="waive_fees"]`)),
		chromedp.SendKeys(chromedp.CSS(`#override input[name="reason"]`), "our courier was late"),
		chromedp.Click(chromedp.CSS("#act-override"))); err != nil {
		t.Fatalf("waive fees: %v", err)
	}
	waitFlash(t, ctx, "override-refund")
	if got := text(t, ctx, "#preview"); !strings.Contains(got, "L1: 199.00 CNY − 0.00 CNY = 199.00 CNY") {
		t.Fatalf("refund preview after waiving the fees: %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`form[action$="/approve"] input[name="note"]`), "worn once, fine"),
		chromedp.Click(chromedp.CSS("#act-approve"))); err != nil {
		t.Fatalf("approve: %v", err)
	}
	waitFlash(t, ctx, "approve")
	if got := text(t, ctx, "#status"); got != string(domain.StatusAwaitingShipment) {
		t.Fatalf("status after approving in the console: %q", got)
	}
	// The page follows the browser's switch: zh-CN.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url("/console/?lang=zh-CN")), chromedp.WaitVisible(chromedp.CSS("#queue"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "h2"); !strings.Contains(got, "审核队列") {
		t.Fatalf("zh-CN queue heading: %q", got)
	}
	shot(t, ctx, "console-queue-zh.png")
	signOut(t, ctx)

	// The parcel comes back; the warehouse receives and inspects it.
	r := d.chooseShipping(id, "dropoff")
	d.scan(r.TrackingNumber, "picked_up")
	d.scan(r.TrackingNumber, "delivered")
	d.waitFor(id, "waiting on the warehouse", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	signIn(t, ctx, d, wu, "en")
	if got := text(t, ctx, "#queue"); !strings.Contains(got, id) {
		t.Fatalf("warehouse queue:\n%s", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="`+id+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#act-receive"))); err != nil {
		t.Fatalf("open the return as the warehouse: %v", err)
	}
	if got := text(t, ctx, "#actions"); strings.Contains(got, "Approve") {
		t.Fatalf("the warehouse sees a support action:\n%s", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#act-receive"))); err != nil {
		t.Fatalf("receive: %v", err)
	}
	waitFlash(t, ctx, "receive")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#act-inspect")),
		chromedp.SendKeys(chromedp.CSS(`input[name="photos_L1"]`), "https://img.example/inspect-l1.jpg"),
		chromedp.SendKeys(chromedp.CSS(`input[name="note_L1"]`), "as new, tags on")); err != nil {
		t.Fatalf("receive: %v", err)
	}
	shot(t, ctx, "console-inspection.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#act-inspect"))); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	waitFlash(t, ctx, "inspection")
	final := d.waitStatus(id, domain.StatusCompleted)
	if final.RefundTotal.Amount != 19900 || final.FeesTotal.Amount != 0 || final.Lines[0].Override == nil || final.Lines[0].Override.Actor != "support:amy" {
		t.Fatalf("refund %v, fees %v, override %+v: want the whole price, fees waived by support:amy", final.RefundTotal, final.FeesTotal, final.Lines[0].Override)
	}
	if final.Lines[0].Inspection == nil || final.Lines[0].Inspection.Note != "as new, tags on" || len(final.Lines[0].Inspection.Photos) != 1 {
		t.Fatalf("inspection as recorded: %+v", final.Lines[0].Inspection)
	}
	var received, inspected bool
	for _, e := range final.Timeline {
		received = received || (e.Type == "received" && e.Actor == "warehouse:wu")
		inspected = inspected || (e.Type == "inspected" && e.Actor == "warehouse:wu")
	}
	if !received || !inspected {
		t.Fatalf("the timeline does not record the warehouse user: %+v", final.Timeline)
	}
	signOut(t, ctx)

	// A customer's token does not open the console.
	signIn(t, ctx, d, cust, "en")
	if got := text(t, ctx, "#forbidden"); !strings.Contains(got, "support and warehouse staff") {
		t.Fatalf("customer in the console: %q", got)
	}
	// The same without a browser: the customer's session cookie gets 403,
	// and a POST of an action with it changes nothing.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, req := range []*http.Request{
		mustReq(t, "GET", d.url("/console/"), ""),
		mustReq(t, "POST", d.url("/console/returns/"+other+"/approve"), "csrf=x"),
	} {
		req.AddCookie(&http.Cookie{Name: "rma_console", Value: cust})
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("customer session on %s %s: %d", req.Method, req.URL.Path, resp.StatusCode)
		}
	}
	if r := d.get(other); r.Status != domain.StatusPendingReview {
		t.Fatalf("the customer's POST changed %s: %s", other, r.Status)
	}
}
