package notices_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/notices"
)

// customerTemplates are the customer notices the domain and the workflow
// can send, read from their source: every notice(activities.ToCustomer,
// "name", ...) and Template: "name" with To: ToCustomer, plus the names
// built at run time.
func customerTemplates(t *testing.T) []string {
	t.Helper()
	call := regexp.MustCompile(`(?:ToCustomer,\s*|\.tell\()"([a-z_]+)"`)
	lit := regexp.MustCompile(`To:\s*(?:activities\.|domain\.)?ToCustomer,[^}]*?Template:\s*"([a-z_]+)"|Template:\s*"([a-z_]+)"[^}]*?To:\s*(?:activities\.|domain\.)?ToCustomer`)
	seen := map[string]bool{}
	for _, dir := range []string{"../domain", "../workflows"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(src), -1) {
				seen[m[1]] = true
			}
			for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
				seen[m[1]+m[2]] = true
			}
		}
	}
	// Names built at run time: the reminder of a shipping method, and the
	// final status a return unwinds to (workflows/return.go, unwind).
	for _, m := range []domain.ShippingMethod{domain.ShippingPickup, domain.ShippingDropoff} {
		seen[string(m)+"_reminder"] = true
	}
	for _, s := range []domain.Status{domain.StatusCancelled, domain.StatusExpired} {
		seen[string(s)] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) < 15 {
		t.Fatalf("found only %d customer notices in the source (%v): the scan is broken", len(out), out)
	}
	return out
}

// TestEveryCustomerNoticeHasBothLocales renders every customer notice the
// code can send, in zh-CN and in en, and fails on a missing template.
func TestEveryCustomerNoticeHasBothLocales(t *testing.T) {
	c, err := notices.Load()
	if err != nil {
		t.Fatal(err)
	}
	names := customerTemplates(t)
	t.Logf("%d customer notices in the source: %v", len(names), names)
	for _, name := range names {
		for _, l := range []domain.Locale{domain.LocaleZhCN, domain.LocaleEN} {
			m, err := c.Render(activities.Notification{RMAID: "RMA-1", To: activities.ToCustomer, Template: name, Locale: l})
			if err != nil {
				t.Errorf("%s in %s: %v", name, l, err)
				continue
			}
			if strings.TrimSpace(m.Subject) == "" || strings.TrimSpace(m.Body) == "" || !strings.Contains(m.Subject, "RMA-1") {
				t.Errorf("%s in %s: subject %q body %q", name, l, m.Subject, m.Body)
			}
		}
	}
	// Both locales have the same notices and the same placeholders.
	zh, en := c.Names(domain.LocaleZhCN), c.Names(domain.LocaleEN)
	if strings.Join(zh, ",") != strings.Join(en, ",") {
		t.Fatalf("zh-CN has %v, en has %v", zh, en)
	}
	ph := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, name := range en {
		a := ph.FindAllString(c[domain.LocaleZhCN][name].Subject+c[domain.LocaleZhCN][name].Body, -1)
		b := ph.FindAllString(c[domain.LocaleEN][name].Subject+c[domain.LocaleEN][name].Body, -1)
		sort.Strings(a)
		sort.Strings(b)
		if strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("%s: zh-CN uses %v, en uses %v", name, a, b)
		}
	}
}

func TestRender(t *testing.T) {
	c := notices.MustLoad()
	n := activities.Notification{RMAID: "RMA-7", To: activities.ToCustomer, Template: "refunded", Locale: domain.LocaleEN,
		Params: map[string]string{"amount": "CNY 199.00", "fees": "CNY 0.00"}}
	m, err := c.Render(n)
	if err != nil || m.Subject != "Refund for return RMA-7" || m.Body != "Refunded CNY 199.00 (fees CNY 0.00)." || len(m.Missing) != 0 {
		t.Fatalf("en: %+v %v", m, err)
	}
	n.Locale = domain.LocaleZhCN
	delete(n.Params, "fees")
	if m, _ = c.Render(n); m.Body != "已退款 CNY 199.00（扣除费用 {fees}）。" || len(m.Missing) != 1 || m.Locale != domain.LocaleZhCN {
		t.Fatalf("zh-CN with a missing parameter: %+v", m)
	}
	// An unknown locale falls back to zh-CN; an unknown customer template
	// is an error; staff notices list their parameters.
	n.Locale = "fr"
	if m, _ = c.Render(n); m.Locale != domain.LocaleZhCN {
		t.Fatalf("fallback locale: %s", m.Locale)
	}
	if _, err := c.Render(activities.Notification{RMAID: "RMA-7", To: activities.ToCustomer, Template: "nope"}); err == nil {
		t.Fatal("unknown template rendered")
	}
	if m, err = c.Render(activities.Notification{RMAID: "RMA-7", To: activities.ToSupport, Template: "needs_attention", Params: map[string]string{"step": "refund"}}); err != nil || m.Body != "[RMA-7] needs_attention step=refund" {
		t.Fatalf("staff: %+v %v", m, err)
	}
}
