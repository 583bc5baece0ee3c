//! Checks of `deploy/monitoring` where `promtool` is not available: every alert and dashboard
//! expression names only metrics the binary exports (read from the registry its metric
//! constructors fill) or Prometheus' own `up`, the `up` selectors name the job the ServiceMonitor
//! yields, every alert links with `runbook_url` to a heading of docs/runbook.md, and every metric
//! of DESIGN §4.6 is shown somewhere.

#[path = "monitoring/promql.rs"]
mod promql;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prometheus::proto::{MetricFamily, MetricType};
use serde_json::Value;
use support::yaml_documents;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Where alerts link to: the runbook on the default branch (`#<anchor>` is appended).
const RUNBOOK_URL_PREFIX: &str =
    "https://github.com/kubernaut/workflowexecution/blob/main/docs/runbook.md#";

use workflowexecution::service_metrics::{DESIGN_METRICS, ServiceMetrics};

fn read(relative: &str) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// The names a scrape of the binary shows: the registry `run::serve` builds
/// ([`ServiceMetrics::new`], every known label set at zero) plus the audit trail's sink series.
/// Histograms and summaries add their `_bucket`/`_sum`/`_count` series.
async fn exported_metric_names() -> BTreeSet<String> {
    let telemetry = ServiceMetrics::new().expect("service metrics register");
    let _trail = wfe_audit::AuditTrailImpl::new(
        &wfe_audit::AuditSettings::default(),
        telemetry.audit.clone(),
    )
    .expect("stdout audit trail");
    let families: Vec<MetricFamily> = telemetry.registry.gather();
    let mut names = BTreeSet::new();
    for family in &families {
        let name = family.name();
        names.insert(name.to_owned());
        match family.get_field_type() {
            MetricType::HISTOGRAM => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            MetricType::SUMMARY => {
                for suffix in ["_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {}
        }
    }
    names
}

/// Series Prometheus itself adds to every scrape target.
const SYNTHETIC: &[&str] = &["up"];

fn is_exported(name: &str, exported: &BTreeSet<String>) -> bool {
    exported.contains(name) || SYNTHETIC.contains(&name)
}

/// (alert name, rule) of the PrometheusRule.
fn alert_rules() -> Vec<(String, Value)> {
    let docs = yaml_documents(
        &read("deploy/monitoring/prometheusrule.yaml"),
        "prometheusrule.yaml",
    );
    assert_eq!(
        docs.len(),
        1,
        "prometheusrule.yaml holds one PrometheusRule"
    );
    let mut rules = Vec::new();
    for group in docs[0]["spec"]["groups"].as_array().expect("spec.groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = str_at(rule, &["alert"]).expect("every rule is an alert");
            rules.push((name.to_owned(), rule.clone()));
        }
    }
    rules
}

/// Expressions of the dashboard's panels.
fn dashboard_expressions() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(&read("deploy/monitoring/dashboard.json"))
        .expect("dashboard.json is JSON");
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect()
}

/// Problems of one expression: unparsable, unknown functions, unexported metrics.
fn expression_problems(what: &str, expr: &str, exported: &BTreeSet<String>) -> Vec<String> {
    match promql::parse(expr) {
        Err(e) => vec![format!("{what}: {e}")],
        Ok(parsed) => parsed
            .metrics
            .iter()
            .filter(|m| !is_exported(&m.name, exported))
            .map(|m| format!("{what}: metric {:?} is not exported by the binary", m.name))
            .collect(),
    }
}

#[tokio::test]
async fn every_expression_names_only_exported_metrics() {
    let exported = exported_metric_names().await;
    for m in DESIGN_METRICS {
        assert!(
            exported.contains(m),
            "DESIGN §4.6 metric {m} is not registered: {exported:?}"
        );
    }
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (alert, rule) in alert_rules() {
        let expr = str_at(&rule, &["expr"]).unwrap_or_else(|| panic!("{alert}: no expr"));
        problems.extend(expression_problems(&alert, expr, &exported));
        used.extend(
            promql::parse(expr)
                .into_iter()
                .flat_map(|p| p.metrics)
                .map(|m| m.name),
        );
    }
    for (i, expr) in dashboard_expressions().iter().enumerate() {
        problems.extend(expression_problems(
            &format!("dashboard target {i}"),
            expr,
            &exported,
        ));
        used.extend(
            promql::parse(expr)
                .into_iter()
                .flat_map(|p| p.metrics)
                .map(|m| m.name),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for m in DESIGN_METRICS {
        assert!(
            used.iter().any(|u| u.starts_with(m)),
            "neither an alert nor the dashboard shows {m}"
        );
    }
}

#[tokio::test]
async fn the_check_refuses_a_metric_nobody_exports() {
    let exported = exported_metric_names().await;
    let ok = r#"sum(rate(workflowexecution_admission_duration_seconds_bucket{webhook="validate"}[5m])) > 0 and absent(up)"#;
    assert!(expression_problems("ok", ok, &exported).is_empty());
    let bad = "sum(rate(workflowexecution_admission_duration_seconds_bukket[5m]))";
    let problems = expression_problems("bad", bad, &exported);
    assert!(
        problems.len() == 1 && problems[0].contains("_bukket"),
        "{problems:?}"
    );
    // Suffixes follow the family's type: a counter has no _bucket series.
    assert!(!is_exported("workflowexecution_total_bucket", &exported));
    assert!(is_exported(
        "workflowexecution_reconcile_duration_seconds_count",
        &exported
    ));
}

/// The job label Prometheus gives the scraped series: the name of the Service the ServiceMonitor
/// selects (Prometheus Operator's default), or that Service's `spec.jobLabel` label value.
fn scrape_job_and_namespace() -> (String, String) {
    let monitor = yaml_documents(
        &read("deploy/monitoring/servicemonitor.yaml"),
        "servicemonitor.yaml",
    )
    .remove(0);
    let namespace = str_at(&monitor, &["metadata", "namespace"]).expect("ServiceMonitor namespace");
    assert!(
        monitor["spec"].get("namespaceSelector").is_none(),
        "the alerts assume the ServiceMonitor's own namespace"
    );
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("selector.matchLabels");
    let services: Vec<Value> = yaml_documents(&read("deploy/base/service.yaml"), "service.yaml")
        .into_iter()
        .filter(|s| {
            str_at(s, &["metadata", "namespace"]) == Some(namespace)
                && wanted
                    .iter()
                    .all(|(k, v)| s["metadata"]["labels"].get(k) == Some(v))
        })
        .collect();
    assert_eq!(
        services.len(),
        1,
        "the ServiceMonitor must select exactly one Service"
    );
    let service = &services[0];
    let job = match str_at(&monitor, &["spec", "jobLabel"]) {
        Some(label) => str_at(service, &["metadata", "labels", label]).expect("jobLabel value"),
        None => str_at(service, &["metadata", "name"]).expect("Service name"),
    };
    (job.to_owned(), namespace.to_owned())
}

#[test]
fn up_selectors_name_the_job_the_service_monitor_yields() {
    let (job, namespace) = scrape_job_and_namespace();
    let mut seen = 0;
    for (alert, rule) in alert_rules() {
        let parsed = promql::parse(str_at(&rule, &["expr"]).expect("expr")).expect("parses");
        for m in parsed.metrics.iter().filter(|m| m.name == "up") {
            seen += 1;
            let matchers: BTreeMap<&str, &str> = m
                .matchers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                matchers.get("job"),
                Some(&job.as_str()),
                "{alert}: up{{job=...}}"
            );
            if let Some(ns) = matchers.get("namespace") {
                assert_eq!(*ns, namespace, "{alert}: up{{namespace=...}}");
            }
        }
    }
    assert!(seen >= 2, "the webhook down/absent alerts use `up`");
}

/// GitHub's heading anchors: lowercase, spaces become '-', other punctuation except '-' and '_'
/// is dropped; a repeated anchor gets `-1`, `-2`, ...
fn runbook_anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(text) = line.strip_prefix('#') else {
            continue;
        };
        if in_code {
            continue;
        }
        let text = text.trim_start_matches('#').trim();
        let base: String = text
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                '-' | '_' => Some(c),
                c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap_or(c)),
                _ => None,
            })
            .collect();
        let n = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    anchors
}

#[test]
fn runbook_anchors_follow_github_rules() {
    let md = "# A Title\n## Metrics and alerts\n```\n# not a heading\n```\n### Tab: `x`, y!\n## A Title\n";
    assert_eq!(
        runbook_anchors(md),
        BTreeSet::from([
            "a-title".to_owned(),
            "metrics-and-alerts".to_owned(),
            "tab-x-y".to_owned(),
            "a-title-1".to_owned(),
        ])
    );
}

/// Problems with the alerts' runbook links against `runbook`.
fn runbook_link_problems(rules: &[(String, Value)], runbook: &str) -> Vec<String> {
    let anchors = runbook_anchors(runbook);
    let mut problems = Vec::new();
    let mut by_anchor: BTreeMap<String, &str> = BTreeMap::new();
    for (alert, rule) in rules {
        let Some(url) = str_at(rule, &["annotations", "runbook_url"]) else {
            problems.push(format!("{alert}: no annotations.runbook_url"));
            continue;
        };
        let Some(anchor) = url.strip_prefix(RUNBOOK_URL_PREFIX) else {
            problems.push(format!(
                "{alert}: runbook_url {url} does not start with {RUNBOOK_URL_PREFIX}"
            ));
            continue;
        };
        if !anchors.contains(anchor) {
            problems.push(format!(
                "{alert}: docs/runbook.md has no heading with anchor #{anchor}"
            ));
        }
        if let Some(other) = by_anchor.insert(anchor.to_owned(), alert) {
            problems.push(format!(
                "{alert} and {other} share the runbook section #{anchor}"
            ));
        }
    }
    problems
}

#[test]
fn every_alert_links_to_its_own_runbook_section() {
    let rules = alert_rules();
    assert!(rules.len() >= 12, "fewer alerts than DESIGN §4.6 asks for");
    let problems = runbook_link_problems(&rules, &read("docs/runbook.md"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (alert, rule) in &rules {
        for key in ["summary", "description"] {
            assert!(
                str_at(rule, &["annotations", key]).is_some(),
                "{alert}: no annotations.{key}"
            );
        }
        assert!(
            str_at(rule, &["labels", "severity"]).is_some(),
            "{alert}: no severity"
        );
    }
    let names: BTreeSet<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "WorkflowExecutionFailureRatioHigh",
        "WorkflowExecutionSkipSpike",
        "WorkflowExecutionAdmissionLatencyHigh",
        "WorkflowExecutionWebhookCertExpiringSoon",
        "WorkflowExecutionAuditBacklogGrowing",
        "WorkflowExecutionWebhookDown",
        "WorkflowExecutionWebhookAbsent",
        "WorkflowExecutionNotReconciling",
        "WorkflowExecutionAdmissionErrors",
        "WorkflowExecutionForgedClearanceDetected",
    ] {
        assert!(
            names.contains(required),
            "missing alert {required} (DESIGN §4.6)"
        );
    }
}

#[test]
fn the_check_refuses_a_missing_anchor() {
    let rule: Value = serde_json::json!({
        "annotations": {"runbook_url": format!("{RUNBOOK_URL_PREFIX}workflowexecutionnope")}
    });
    let rules = vec![("WorkflowExecutionNope".to_owned(), rule)];
    let problems = runbook_link_problems(&rules, "## Metrics\n### WorkflowExecutionYes\n");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("#workflowexecutionnope"),
        "{problems:?}"
    );
    assert!(runbook_link_problems(&rules, "### WorkflowExecutionNope\n").is_empty());
}
