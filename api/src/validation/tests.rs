use super::*;
use crate::parameters::Parameters;
use crate::resource::{ExecutionConfig, RemediationRequestRef, WorkflowRef};

fn valid_spec() -> WorkflowExecutionSpec {
    WorkflowExecutionSpec {
        remediation_request_ref: RemediationRequestRef {
            name: "rr-1".into(),
            ..Default::default()
        },
        workflow_ref: WorkflowRef {
            workflow_id: "restart-deployment".into(),
            version: "v1.2.0".into(),
            container_image: "quay.io/kubernaut/workflows/restart-deployment:v1.2.0".into(),
            container_digest: Some(format!("sha256:{}", "a".repeat(64))),
        },
        target_resource: "team-a/Deployment/payment-api".into(),
        parameters: Parameters::from([("NAMESPACE".into(), "team-a".into())]),
        confidence: Some(0.92),
        rationale: Some("restart clears the leak".into()),
        execution_config: Some(ExecutionConfig {
            timeout: Some("15m".into()),
            service_account_name: None,
        }),
    }
}

fn fields(spec: &WorkflowExecutionSpec, policy: &SpecPolicy) -> Vec<String> {
    match validate_spec(spec, policy) {
        Ok(()) => vec![],
        Err(v) => v.0.into_iter().map(|v| v.field).collect(),
    }
}

#[test]
fn valid_spec_passes() {
    assert_eq!(validate_spec(&valid_spec(), &SpecPolicy::default()), Ok(()));
}

#[test]
fn target_resource_cases() {
    let p = SpecPolicy::default();
    for ok in [
        "default/deployment/nginx",
        "node/worker-node-1",
        "namespace/production",
    ] {
        let mut s = valid_spec();
        s.target_resource = ok.into();
        assert_eq!(validate_spec(&s, &p), Ok(()), "{ok}");
    }
    for bad in ["", "nginx", "a/b/c/d", "default//nginx", "/x/y"] {
        let mut s = valid_spec();
        s.target_resource = bad.into();
        assert_eq!(fields(&s, &p), vec!["spec.targetResource"], "{bad:?}");
    }
}

#[test]
fn reserved_target_resource_parameter_rejected() {
    let mut s = valid_spec();
    s.parameters.insert("TARGET_RESOURCE".into(), "x".into());
    let err = validate_spec(&s, &SpecPolicy::default()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].field, "spec.parameters[TARGET_RESOURCE]");
    assert!(err.0[0].message.contains("reserved"));
}

#[test]
fn parameter_names_values_and_count() {
    let p = SpecPolicy::default();
    for bad in ["lower", "1ABC", "A-B", "_A", ""] {
        let mut s = valid_spec();
        s.parameters.insert(bad.into(), "v".into());
        assert_eq!(
            fields(&s, &p),
            vec![format!("spec.parameters[{bad}]")],
            "{bad:?}"
        );
    }
    let mut s = valid_spec();
    s.parameters
        .insert("A_1".into(), "x".repeat(MAX_PARAMETER_VALUE_LEN));
    assert_eq!(validate_spec(&s, &p), Ok(()));
    s.parameters
        .insert("A_2".into(), "x".repeat(MAX_PARAMETER_VALUE_LEN + 1));
    assert_eq!(fields(&s, &p), vec!["spec.parameters[A_2]"]);
    let mut s = valid_spec();
    s.parameters = (0..=MAX_PARAMETERS)
        .map(|i| (format!("P{i}"), "v".into()))
        .collect();
    assert_eq!(fields(&s, &p), vec!["spec.parameters"]);
}

#[test]
fn workflow_ref_rules() {
    let p = SpecPolicy::default();
    let mut s = valid_spec();
    s.workflow_ref.workflow_id = String::new();
    s.workflow_ref.version = "v".repeat(64);
    s.workflow_ref.container_image = String::new();
    s.workflow_ref.container_digest = Some("sha256:ABC".into());
    assert_eq!(
        fields(&s, &p),
        vec![
            "spec.workflowRef.workflowId",
            "spec.workflowRef.version",
            "spec.workflowRef.containerImage",
            "spec.workflowRef.containerDigest"
        ]
    );
    let mut s = valid_spec();
    s.workflow_ref.workflow_id = "w".repeat(254);
    assert_eq!(fields(&s, &p), vec!["spec.workflowRef.workflowId"]);
}

#[test]
fn image_references() {
    for ok in [
        "quay.io/kubernaut/workflows/restart-deployment:v1.2.0",
        "localhost:5000/bundle:latest",
        "registry.local:5000/a/b@sha256:".to_owned().leak(),
        "bundle",
        "ghcr.io/org/repo__x/y-z:1.0",
    ] {
        let img = if ok.ends_with("sha256:") {
            format!("{ok}{}", "0".repeat(64))
        } else {
            ok.to_owned()
        };
        assert_eq!(check_image_reference(&img), Ok(()), "{img}");
    }
    for bad in [
        "Quay.io/UPPER/x",
        "a b",
        "x:",
        "x:-tag",
        "host:port/x",
        "repo@sha256:zz",
        "a//b",
    ] {
        assert!(check_image_reference(bad).is_err(), "{bad}");
    }
    // Blank and control characters, ASCII or not, name the same problem.
    for blank in [
        "a\tb",
        "ab\u{7f}",
        "a\u{a0}b",
        "a\u{85}b",
        "a\u{2028}b",
        "\u{0}",
    ] {
        let err = check_image_reference(blank).expect_err(blank);
        assert!(err.ends_with("(contains whitespace)"), "{blank:?}: {err}");
    }
}

#[test]
fn lengths_count_characters_not_bytes() {
    let p = SpecPolicy::default();
    let mut s = valid_spec();
    s.workflow_ref.workflow_id = "é".repeat(253);
    s.rationale = Some("é".repeat(MAX_RATIONALE_LEN));
    s.parameters = Parameters::from([("A".into(), "é".repeat(MAX_PARAMETER_VALUE_LEN))]);
    assert_eq!(validate_spec(&s, &p), Ok(()));
    s.workflow_ref.workflow_id.push('é');
    s.rationale = Some("é".repeat(MAX_RATIONALE_LEN + 1));
    s.parameters = Parameters::from([("A".into(), "é".repeat(MAX_PARAMETER_VALUE_LEN + 1))]);
    let err = validate_spec(&s, &p).expect_err("too long");
    assert_eq!(
        err.to_string(),
        format!(
            "spec.workflowRef.workflowId: must be at most 253 characters, got 254; \
             spec.parameters[A]: value must be at most {MAX_PARAMETER_VALUE_LEN} characters; \
             spec.rationale: must be at most {MAX_RATIONALE_LEN} characters"
        )
    );
}

#[test]
fn confidence_rationale_and_ref() {
    let p = SpecPolicy::default();
    let mut s = valid_spec();
    s.confidence = Some(1.5);
    s.rationale = Some("r".repeat(MAX_RATIONALE_LEN + 1));
    s.remediation_request_ref.name = String::new();
    assert_eq!(
        fields(&s, &p),
        vec![
            "spec.remediationRequestRef.name",
            "spec.confidence",
            "spec.rationale"
        ]
    );
    for ok in [0.0, 1.0] {
        let mut s = valid_spec();
        s.confidence = Some(ok);
        assert_eq!(validate_spec(&s, &p), Ok(()));
    }
    let mut s = valid_spec();
    s.confidence = Some(f64::NAN);
    assert_eq!(fields(&s, &p), vec!["spec.confidence"]);
}

#[test]
fn execution_config_depends_on_policy() {
    let policy = SpecPolicy {
        max_timeout: Duration::from_secs(3600),
        allowed_service_accounts: vec!["runner-b".into()],
    };
    let mut s = valid_spec();
    s.execution_config = Some(ExecutionConfig {
        timeout: Some("2h".into()),
        service_account_name: Some("evil".into()),
    });
    let err = validate_spec(&s, &policy).unwrap_err();
    assert_eq!(err.0[0].field, "spec.executionConfig.timeout");
    assert!(
        err.0[0].message.contains("exceeds the maximum of 1h0m0s"),
        "{}",
        err.0[0].message
    );
    assert_eq!(err.0[1].field, "spec.executionConfig.serviceAccountName");
    assert!(err.0[1].message.contains("runner-b"));
    s.execution_config = Some(ExecutionConfig {
        timeout: Some("soon".into()),
        service_account_name: Some("runner-b".into()),
    });
    assert_eq!(fields(&s, &policy), vec!["spec.executionConfig.timeout"]);
    s.execution_config = Some(ExecutionConfig {
        timeout: Some("0s".into()),
        service_account_name: None,
    });
    assert_eq!(fields(&s, &policy), vec!["spec.executionConfig.timeout"]);
    s.execution_config = Some(ExecutionConfig {
        timeout: Some("1h".into()),
        service_account_name: Some("runner-b".into()),
    });
    assert_eq!(validate_spec(&s, &policy), Ok(()));
}

#[test]
fn all_violations_reported_together_and_displayed_with_paths() {
    let mut s = valid_spec();
    s.target_resource = "nginx".into();
    s.parameters.insert("TARGET_RESOURCE".into(), "x".into());
    s.confidence = Some(-1.0);
    let err = validate_spec(&s, &SpecPolicy::default()).unwrap_err();
    assert_eq!(err.0.len(), 3);
    let text = err.to_string();
    assert!(
        text.starts_with("spec.targetResource: must be namespace/Kind/name"),
        "{text}"
    );
    assert!(text.contains("; spec.parameters[TARGET_RESOURCE]: "));
    assert!(text.contains("; spec.confidence: must be between 0 and 1, got -1"));
}

#[test]
fn changed_fields_are_named() {
    let a = valid_spec();
    let mut b = valid_spec();
    assert!(changed_spec_fields(&a, &b).is_empty());
    b.target_resource = "team-a/Deployment/checkout-api".into();
    b.parameters.insert("X".into(), "1".into());
    assert_eq!(
        changed_spec_fields(&a, &b),
        vec!["spec.targetResource", "spec.parameters"]
    );
}

#[test]
fn parse_errors_name_the_field() {
    let v = serde_json::json!({
        "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": "x"},
        "spec": {"remediationRequestRef": {"name": "rr"}, "workflowRef": {"workflowId": "w", "version": 3},
                 "targetResource": "a/b"}
    });
    let err = parse_workflow_execution(v).unwrap_err();
    assert_eq!(err.field, "spec.workflowRef.version");
}
