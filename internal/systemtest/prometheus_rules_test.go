package systemtest

// The Prometheus alerting rules in k8s/ against the binary they watch: the
// file decodes strictly as a rule file, each rule is complete, the alerts
// operators need are there, and every metric and label their expressions
// name is one a real edge exports.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// ruleFile is a Prometheus rule file (prometheus.io/docs, "Defining
// recording rules" and "Alerting rules"), decoded strictly.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval"`
		Rules    []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// neededAlerts are the alerts an operator of edges must have: what each
// one watches.
var neededAlerts = map[string]string{
	"EdgecacheOriginFailing":     "an origin failing",
	"EdgecacheRingMemberSuspect": "a ring member suspect",
	"EdgecacheEvictionsChurning": "evictions churning",
	"EdgecachePeerRefusals":      "peer requests refused",
	"EdgecacheDiskOff":           "a disk tier stopped after errors",
}

func TestPrometheusRulesMatchMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(k8sDir, "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := decodeStrict(raw, &rf); err != nil {
		t.Fatalf("prometheus-rules.yaml does not decode as a rule file: %v", err)
	}
	exported := ringSeries(t)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a group needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || r.Record != "" {
				t.Errorf("rule %q %q: only alerting rules are expected here", r.Alert, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			for _, problem := range checkRule(r.Alert, r.Expr, r.For, r.Labels, r.Annotations) {
				t.Errorf("alert %s: %s", r.Alert, problem)
			}
			for _, problem := range checkExpr(r.Expr, exported) {
				t.Errorf("alert %s: %s\n  in %s", r.Alert, problem, r.Expr)
			}
		}
	}
	for name, what := range neededAlerts {
		if !seen[name] {
			t.Errorf("no alert %s (%s)", name, what)
		}
	}
}

// checkRule reports what an alerting rule lacks: a name Prometheus
// accepts, a for duration, a severity, and a summary and description
// whose templates render.
func checkRule(name, expr, forDur string, labels, annotations map[string]string) []string {
	var problems []string
	if !regexp.MustCompile(`^Edgecache[A-Z][A-Za-z]*$`).MatchString(name) {
		problems = append(problems, "the name should be Edgecache followed by words in CamelCase")
	}
	if strings.TrimSpace(expr) == "" {
		problems = append(problems, "no expression")
	}
	if d, err := time.ParseDuration(forDur); err != nil || d <= 0 {
		problems = append(problems, fmt.Sprintf("for %q: want a positive duration, so that one bad scrape does not page", forDur))
	}
	if s := labels["severity"]; s != "warning" && s != "critical" {
		problems = append(problems, fmt.Sprintf("severity %q: want warning or critical", s))
	}
	for _, key := range []string{"summary", "description"} {
		text, ok := annotations[key]
		if !ok || strings.TrimSpace(text) == "" {
			problems = append(problems, "no "+key)
			continue
		}
		out, err := renderAnnotation(text)
		if err != nil || strings.Contains(out, "<no value>") {
			problems = append(problems, fmt.Sprintf("%s does not render: %v %q", key, err, out))
		}
		if !strings.Contains(out, "edge-1:8082") {
			problems = append(problems, key+" does not name the instance")
		}
	}
	return problems
}

// renderAnnotation renders an annotation as Prometheus does, with the
// variables it defines ($labels, $value) and the functions used here.
func renderAnnotation(text string) (string, error) {
	const prelude = `{{$labels := .Labels}}{{$value := .Value}}`
	tmpl, err := template.New("annotation").Option("missingkey=zero").Funcs(template.FuncMap{
		"humanize": func(v float64) string { return fmt.Sprintf("%.4g", v) },
	}).Parse(prelude + text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tmpl.Execute(&b, struct {
		Labels map[string]string
		Value  float64
	}{map[string]string{"instance": "edge-1:8082"}, 0.75})
	return b.String(), err
}

// The rule checker finds what it must: without this, a checker that
// accepts everything would pass the rule file.
func TestCheckRuleFindsProblems(t *testing.T) {
	good := map[string]string{"summary": "{{ $labels.instance }} fails", "description": "{{ $labels.instance }}: {{ $value | humanize }}"}
	for _, tc := range []struct {
		name, expr, forDur string
		labels, ann        map[string]string
		want               string
	}{
		{"EdgecacheX", "up", "5m", map[string]string{"severity": "warning"}, good, ""},
		{"edgecache_x", "up", "5m", map[string]string{"severity": "warning"}, good, "CamelCase"},
		{"EdgecacheX", "up", "", map[string]string{"severity": "warning"}, good, "positive duration"},
		{"EdgecacheX", "up", "5m", map[string]string{"severity": "page"}, good, "severity"},
		{"EdgecacheX", "up", "5m", map[string]string{"severity": "warning"}, map[string]string{"summary": "x"}, "no description"},
		{"EdgecacheX", "up", "5m", map[string]string{"severity": "warning"},
			map[string]string{"summary": "{{ $labels.instance }}", "description": "{{ $labels.instanse }}"}, "does not name the instance"},
		{"EdgecacheX", "up", "5m", map[string]string{"severity": "warning"},
			map[string]string{"summary": "{{ $labels.instance }}", "description": "{{ $lables.instance }}"}, "does not render"},
	} {
		got := strings.Join(checkRule(tc.name, tc.expr, tc.forDur, tc.labels, tc.ann), "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkRule(%s, for %q, %v, %v) = %q, want %q", tc.name, tc.forDur, tc.labels, tc.ann, got, tc.want)
		}
	}
}

// The alerts fire on what they are meant for and stay quiet on its look-
// alikes, as Prometheus evaluates them (`promtool test rules`, skipped
// without promtool: Debian's prometheus package has it). Annotations are
// left to TestPrometheusRulesMatchMetrics: promtool would compare their
// whole text.
func TestPrometheusRulesFire(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH")
	}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules map[string]any
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any), "annotations")
		}
	}
	stripped, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules_test.yaml"), []byte(alertScenarios), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "test", "rules", "rules_test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// alertScenarios is a promtool unit test of the rules: in each, one edge
// shows the trouble and another its harmless look-alike.
const alertScenarios = `
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  # edge-1: every origin request fails. edge-2: a 404 for every request
  # (answers, not failures). edge-3: one request in ten fails.
  - interval: 1m
    input_series:
      - series: 'edgecache_origin_requests_total{instance="edge-1",op="chunk"}'
        values: '0+60x40'
      - series: 'edgecache_origin_errors_total{instance="edge-1",op="chunk",kind="unreachable"}'
        values: '0+60x40'
      - series: 'edgecache_origin_requests_total{instance="edge-2",op="stat"}'
        values: '0+60x40'
      - series: 'edgecache_origin_errors_total{instance="edge-2",op="stat",kind="not_found"}'
        values: '0+60x40'
      - series: 'edgecache_origin_requests_total{instance="edge-3",op="chunk"}'
        values: '0+600x40'
      - series: 'edgecache_origin_errors_total{instance="edge-3",op="chunk",kind="timeout"}'
        values: '0+60x40'
    alert_rule_test:
      - eval_time: 2m
        alertname: EdgecacheOriginFailing
      - eval_time: 30m
        alertname: EdgecacheOriginFailing
        exp_alerts:
          - exp_labels: {severity: critical, instance: edge-1}
      - eval_time: 30m
        alertname: EdgecacheOriginErrors
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1}
          - exp_labels: {severity: warning, instance: edge-3}

  # edge-1: a member fails again and again, so the gauge is 1 at some
  # scrapes and 0 at others. edge-2: one member failed once.
  - interval: 1m
    input_series:
      - series: 'edgecache_peer_suspects{instance="edge-1"}'
        values: '1 0 1 1 0 1 0 0 1 1 0 1 0 1 1 0 1 0 1 1 0 1 0 1 1 0 1'
      - series: 'edgecache_peer_suspects{instance="edge-2"}'
        values: '1 0x25'
    alert_rule_test:
      - eval_time: 5m
        alertname: EdgecacheRingMemberSuspect
      - eval_time: 20m
        alertname: EdgecacheRingMemberSuspect
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1}

  # edge-1: a cache of 1,000 entries evicts 100 a minute (6,000 an hour).
  # edge-2: a cache of 100,000 entries evicts as many: it turns over in
  # 17 hours, which is what a full cache does.
  - interval: 1m
    input_series:
      - series: 'edgecache_cache_evictions_total{instance="edge-1"}'
        values: '0+100x90'
      - series: 'edgecache_cache_entries{instance="edge-1",kind="chunk"}'
        values: '200x90'
      - series: 'edgecache_cache_entries{instance="edge-1",kind="shard"}'
        values: '800x90'
      - series: 'edgecache_cache_evictions_total{instance="edge-2"}'
        values: '0+100x90'
      - series: 'edgecache_cache_entries{instance="edge-2",kind="shard"}'
        values: '100000x90'
    alert_rule_test:
      - eval_time: 20m
        alertname: EdgecacheEvictionsChurning
      - eval_time: 80m
        alertname: EdgecacheEvictionsChurning
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1}

  # edge-1: a member with another secret is refused all along. edge-2:
  # one refused request, long ago.
  - interval: 1m
    input_series:
      - series: 'edgecache_peer_refused_total{instance="edge-1"}'
        values: '0+10x40'
      - series: 'edgecache_peer_refused_total{instance="edge-2"}'
        values: '0 1x40'
    alert_rule_test:
      - eval_time: 5m
        alertname: EdgecachePeerRefusals
      - eval_time: 30m
        alertname: EdgecachePeerRefusals
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1}

  # edge-1: one of two disks turned off after 10 minutes. edge-2: both
  # disks working, whatever errors they had.
  - interval: 1m
    input_series:
      - series: 'edgecache_disk_off{instance="edge-1",path="/mnt/a"}'
        values: '0x10 1x30'
      - series: 'edgecache_disk_off{instance="edge-1",path="/mnt/b"}'
        values: '0x40'
      - series: 'edgecache_disk_off{instance="edge-2",path="/mnt/a"}'
        values: '0x40'
    alert_rule_test:
      - eval_time: 12m
        alertname: EdgecacheDiskOff
      - eval_time: 30m
        alertname: EdgecacheDiskOff
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1, path: /mnt/a}

  # edge-1: a read fails every minute or so, for an hour. edge-2: a
  # burst of three failed reads, once.
  - interval: 1m
    input_series:
      - series: 'edgecache_disk_errors_total{instance="edge-1",path="/mnt/a",op="read"}'
        values: '0+1x60'
      - series: 'edgecache_disk_errors_total{instance="edge-2",path="/mnt/a",op="read"}'
        values: '0x5 3x55'
    alert_rule_test:
      - eval_time: 20m
        alertname: EdgecacheDiskReadErrors
      - eval_time: 50m
        alertname: EdgecacheDiskReadErrors
        exp_alerts:
          - exp_labels: {severity: warning, instance: edge-1, path: /mnt/a}
`
