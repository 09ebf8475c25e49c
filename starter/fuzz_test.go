package starter

import (
	"testing"

	"github.com/temporalio/sqlparser"

	"github.com/rma-dev/rma/workflows"
)

// FuzzFilterQuery: every list filter that reaches Temporal visibility is a
// string literal by the server's own parser, whatever it holds (quotes,
// backslashes, AND, OR, NUL): the parsed query has exactly one equality
// per filter, with the filter's value byte for byte.
func FuzzFilterQuery(f *testing.F) {
	for _, s := range []string{"", "completed", "SO-1'", `C-1"`, `SKU\`, `x' OR 'a'='a`, `a\' AND RmaStatus = 'x`, "AND", `\\'\\"`, "\x00", "é'中"} {
		f.Add(s, s+"'", s+`\`)
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		flt := Filter{Status: a, OrderID: b, CustomerID: c, SKU: a + b, Kind: c, Tracking: b + c}
		q := flt.Query()
		stmt, err := sqlparser.Parse("select * from t where " + q)
		if err != nil {
			t.Fatalf("query %q does not parse: %v", q, err)
		}
		got := map[string]string{}
		var walk func(e sqlparser.Expr)
		walk = func(e sqlparser.Expr) {
			switch e := e.(type) {
			case *sqlparser.AndExpr:
				walk(e.Left)
				walk(e.Right)
			case *sqlparser.ComparisonExpr:
				col, ok1 := e.Left.(*sqlparser.ColName)
				val, ok2 := e.Right.(*sqlparser.SQLVal)
				if !ok1 || !ok2 || e.Operator != sqlparser.EqualStr || val.Type != sqlparser.StrVal {
					t.Fatalf("query %q: unexpected %s", q, sqlparser.String(e))
				}
				if _, dup := got[col.Name.String()]; dup {
					t.Fatalf("query %q: %s twice", q, col.Name)
				}
				got[col.Name.String()] = string(val.Val)
			default:
				t.Fatalf("query %q: unexpected %T %s", q, e, sqlparser.String(e))
			}
		}
		walk(stmt.(*sqlparser.Select).Where.Expr)
		want := map[string]string{"WorkflowType": workflows.WorkflowType}
		for k, v := range map[string]string{workflows.SAStatus.GetName(): flt.Status, workflows.SAOrder.GetName(): flt.OrderID,
			workflows.SACustomer.GetName(): flt.CustomerID, workflows.SASKUs.GetName(): flt.SKU, workflows.SAKind.GetName(): flt.Kind,
			workflows.SATracking.GetName(): flt.Tracking} {
			if v != "" {
				want[k] = v
			}
		}
		if len(got) != len(want) {
			t.Fatalf("query %q: got %v, want %v", q, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("query %q: %s = %q, want %q", q, k, got[k], v)
			}
		}
	})
}
