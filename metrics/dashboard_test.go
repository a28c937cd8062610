package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/swarm"
)

const dashboardFile = "../examples/grafana/mqcheck-dashboard.json"

// exported scrapes an exporter that has seen a run with a fault and
// latency, and returns each series name a query can use with the labels
// it carries.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	e := New(Run{Scenario: "s", Broker: "memory", Load: 10 * time.Second})
	e.Attach(runner.LiveRun{RunID: "abc", Totals: func() swarm.Totals {
		return swarm.Totals{Sent: 10, Acked: 9, Received: 8, InFlight: 1, Live: checker.Live{Duplicated: 2}}
	}})
	e.Second(report.Second{T: 1, SentPerS: 10, Lag: 3, Faults: []string{"pause all nodes"}}, hist(500), hist(900))
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(serve(t, e)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	add := func(name string, labels []string) {
		for _, l := range labels {
			if !slices.Contains(out[name], l) {
				out[name] = append(out[name], l)
			}
		}
		if out[name] == nil {
			out[name] = []string{}
		}
	}
	for name, f := range families {
		var labels []string
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			add(name+"_bucket", append(labels, "le"))
			add(name+"_sum", labels)
			add(name+"_count", labels)
		case dto.MetricType_SUMMARY:
			add(name, append(labels, "quantile"))
			add(name+"_sum", labels)
			add(name+"_count", labels)
		default:
			add(name, labels)
		}
	}
	return out
}

// dashboardQueries walks the dashboard and returns every PromQL
// expression ("expr", at any depth) and every metric a template variable
// lists label values of.
func dashboardQueries(t *testing.T, v any, exprs, variables *[]string) {
	t.Helper()
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				*exprs = append(*exprs, s)
			}
			if s, ok := x.(string); ok && (k == "query" || k == "definition") {
				if m := labelValues.FindStringSubmatch(s); m != nil {
					*variables = append(*variables, m[1]+" "+m[2])
				}
			}
			dashboardQueries(t, x, exprs, variables)
		}
	case []any:
		for _, x := range v {
			dashboardQueries(t, x, exprs, variables)
		}
	}
}

// TestGrafanaDashboard checks the example dashboard against what mqcheck
// exports: every metric a panel queries, and every label it selects or
// groups by, exists in a scrape; every mqcheck series has a panel; the
// panels are laid out on Grafana's 24-column grid.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	series := exported(t)
	// Prometheus adds these to every series it scrapes.
	scrapeLabels := []string{"instance", "job"}
	hasLabel := func(metric, label string) bool {
		return slices.Contains(series[metric], label) || slices.Contains(scrapeLabels, label)
	}

	var exprs, variables []string
	dashboardQueries(t, dash, &exprs, &variables)
	if len(exprs) < 10 || len(variables) == 0 {
		t.Fatalf("%d queries and %d variables: the walk found nothing to check", len(exprs), len(variables))
	}
	used := map[string]bool{}
	// Grafana fills these in before Prometheus sees the query.
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h")
	for _, q := range exprs {
		e, err := metricsql.Parse(grafana.Replace(q))
		if err != nil {
			t.Errorf("%q does not parse: %v", q, err)
			continue
		}
		var names, grouped []string
		metricsql.VisitAll(e, func(x metricsql.Expr) {
			switch x := x.(type) {
			case *metricsql.MetricExpr:
				for _, group := range x.LabelFilterss {
					var name string
					for _, f := range group {
						if f.Label == "__name__" {
							name = f.Value
						}
					}
					names = append(names, name)
					if _, ok := series[name]; !ok {
						t.Errorf("%q queries %q, which mqcheck does not export", q, name)
						continue
					}
					used[name] = true
					for _, f := range group {
						if f.Label != "__name__" && !hasLabel(name, f.Label) {
							t.Errorf("%q selects label %q, which %s does not carry", q, f.Label, name)
						}
					}
				}
			case *metricsql.AggrFuncExpr:
				grouped = append(grouped, x.Modifier.Args...)
			}
		})
		if len(names) == 0 {
			t.Errorf("%q queries no metric", q)
		}
		for _, l := range grouped {
			if !slices.ContainsFunc(names, func(n string) bool { return hasLabel(n, l) }) {
				t.Errorf("%q groups by %q, which none of %v carries", q, l, names)
			}
		}
	}
	for _, v := range variables {
		name, label, _ := strings.Cut(v, " ")
		if _, ok := series[name]; !ok || !hasLabel(name, label) {
			t.Errorf("template variable lists %s of %s, which mqcheck does not export", label, name)
		}
	}
	for name := range series {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.HasPrefix(name, "mqcheck_") || used[name] {
			continue
		}
		if !used[base+"_bucket"] && !used[base+"_sum"] && !used[base+"_count"] && !used[base] {
			t.Errorf("mqcheck exports %s and no panel shows it", name)
		}
	}

	panels, _ := dash["panels"].([]any)
	ids := map[float64]bool{}
	for _, p := range panels {
		p := p.(map[string]any)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v twice", id)
		}
		ids[id] = true
		ds, _ := p["datasource"].(map[string]any)
		if ds["uid"] != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want the dashboard's ${datasource}", p["title"], ds)
		}
		g, _ := p["gridPos"].(map[string]any)
		x, w, h := g["x"].(float64), g["w"].(float64), g["h"].(float64)
		if w <= 0 || h <= 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos %v off the 24-column grid", p["title"], g)
		}
	}
}
