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
