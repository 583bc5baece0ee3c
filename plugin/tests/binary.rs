//! The `kubectl-wfe` binary itself: help, exit codes, and the errors an operator meets before
//! any API call succeeds (bad kubeconfig, unreachable cluster, a reason refused locally).

use std::net::TcpListener;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-wfe");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kubectl-wfe")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A kubeconfig naming a local port nothing listens on.
fn unreachable_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\n    namespace: team-a\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

#[test]
fn help_lists_every_command_with_examples() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for part in [
        "blocked",
        "clear",
        "why",
        "history",
        "Examples:",
        "--kubeconfig",
        "--context",
        "--namespace",
        "kubectl wfe clear",
    ] {
        assert!(help.contains(part), "{part:?} missing in:\n{help}");
    }
    let out = run(&["clear", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("--reason") && help.contains("--dry-run"),
        "{help}"
    );
    let out = run(&["blocked", "--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("--all-namespaces") && help.contains("json") && help.contains("yaml"),
        "{help}"
    );
}

#[test]
fn an_unreachable_cluster_is_a_clear_error_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let out = run(&["--kubeconfig", kubeconfig.to_str().unwrap(), "blocked"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the Kubernetes API server"),
        "{err}"
    );
}

#[test]
fn a_refused_reason_fails_before_contacting_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let out = run(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "clear",
        "boom",
        "--reason",
        "looks fine now",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("block clearance not sent: reason must have at least 10 words (got 3)"),
        "{err}"
    );
    assert!(!err.contains("cannot reach"), "{err}");
}

#[test]
fn a_missing_kubeconfig_or_context_is_named() {
    let out = run(&["--kubeconfig", "/nonexistent/kubeconfig", "blocked"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot load the cluster configuration")
            && err.contains("/nonexistent/kubeconfig"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let out = run(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "nope",
        "blocked",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot load the cluster configuration"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_subcommand_or_reason_is_a_usage_error() {
    assert!(!run(&[]).status.success());
    let out = run(&["clear", "boom"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--reason"),
        "{}",
        text(&out.stderr)
    );
}

/// A one-connection HTTP/1.1 API server on localhost that answers each request in `answers`
/// order with (status, JSON body) and returns the request lines it saw.
fn tiny_api_server(answers: Vec<(u16, String)>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        for (code, body) in answers {
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header");
                if header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().expect("content-length");
                }
            }
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).expect("body");
            seen.push(request_line.trim().to_owned());
            write!(
                writer,
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .expect("write");
        }
        seen
    });
    (port, handle)
}

#[test]
fn a_webhook_denial_is_printed_verbatim_with_a_non_zero_exit() {
    let wfe = r#"{"apiVersion":"kubernaut.ai/v1alpha1","kind":"WorkflowExecution","metadata":{"name":"boom","namespace":"team-a"},"spec":{"remediationRequestRef":{"name":"rr"},"workflowRef":{"workflowId":"w","version":"v1","containerImage":"r/w:v1"},"targetResource":"team-a/Deployment/x"},"status":{"phase":"Failed","consecutiveFailures":0,"failureDetails":{"reason":"TaskFailed","message":"m","failedAt":"2026-03-01T12:00:00Z","wasExecutionFailure":true}}}"#;
    let message = "admission webhook \"clearance.workflowexecution.kubernaut.ai\" denied the request: block clearance denied: user \"bob\" is not authorized to update workflowexecutions/blockclearance (kubernaut.ai) in namespace team-a";
    let denial = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": message, "reason": "Forbidden", "code": 403});
    let (port, server) = tiny_api_server(vec![(200, wfe.to_owned()), (403, denial.to_string())]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"),
    )
    .unwrap();
    let out = run(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        "team-a",
        "clear",
        "boom",
        "--reason",
        "The pod's memory limit was raised and on-call verified the deployment is healthy",
    ]);
    let seen = server.join().expect("server");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[1].starts_with(
            "PATCH /apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/boom/status"
        ),
        "{seen:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err, format!("Error from server (403): {message}\n"));
}
