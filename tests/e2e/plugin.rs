//! The operator toolkit against a real API server: `kubectl wfe blocked|clear|why|history` (the
//! built `kubectl-wfe` binary, run as the admin or impersonating the test identities) through
//! blocked → cleared → next WFE runs, and `kubectl wait --for=condition=Succeeded[=False]`
//! returning on a Completed and on a Skipped WFE.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use wfe_api::{Phase, SkipReason, keys};

use crate::clearance::REASON;
use crate::harness::{BYSTANDER_GROUP, BYSTANDER_USER, CLEARER_GROUP, CLEARER_USER, Ctx, e2e};
use crate::lifecycle::{self, skip_reason};
use crate::wfe::{self, Behaviour};

/// The `kubectl-wfe` binary: `WFE_E2E_PLUGIN` if set, else built next to the service binary
/// (same target directory and profile; a no-op when it is up to date).
fn plugin_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("WFE_E2E_PLUGIN") {
                return PathBuf::from(path);
            }
            let dir = Path::new(env!("CARGO_BIN_EXE_workflowexecution"))
                .parent()
                .expect("the service binary has a directory")
                .to_path_buf();
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "-p", "wfe-plugin", "--bin", "kubectl-wfe"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if dir.ends_with("release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build for kubectl-wfe");
            assert!(status.success(), "cargo build -p wfe-plugin failed");
            dir.join("kubectl-wfe")
        })
        .clone()
}

/// Who runs a command.
#[derive(Clone, Copy)]
enum As {
    Admin,
    Clearer,
    Bystander,
}

fn identity_flags(who: As) -> Vec<String> {
    let (user, group) = match who {
        As::Admin => return Vec::new(),
        As::Clearer => (CLEARER_USER, CLEARER_GROUP),
        As::Bystander => (BYSTANDER_USER, BYSTANDER_GROUP),
    };
    [
        "--as",
        user,
        "--as-group",
        group,
        "--as-group",
        "system:authenticated",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

async fn run(program: PathBuf, args: Vec<String>) -> Output {
    let what = format!("{} {}", program.display(), args.join(" "));
    tokio::task::spawn_blocking(move || Command::new(program).args(args).output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// `kubectl wfe ARGS -n <test namespace>` as `who`.
async fn plugin(ctx: &Ctx, who: As, args: &[&str]) -> Output {
    let mut all = vec![
        "--kubeconfig".to_owned(),
        ctx.settings.kubeconfig.display().to_string(),
        "-n".to_owned(),
        ctx.ns.clone(),
    ];
    all.extend(identity_flags(who));
    all.extend(args.iter().map(|s| (*s).to_owned()));
    run(plugin_binary(), all).await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn succeeded(what: &str, o: &Output) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// `kubectl wait --for=condition=<condition> wfe/<name>` must return successfully.
async fn kubectl_wait(ctx: &Ctx, name: &str, condition: &str) {
    let args = vec![
        "--kubeconfig".to_owned(),
        ctx.settings.kubeconfig.display().to_string(),
        "wait".to_owned(),
        format!("--for=condition={condition}"),
        format!("wfe/{name}"),
        "-n".to_owned(),
        ctx.ns.clone(),
        format!("--timeout={}s", ctx.settings.timeout.as_secs()),
    ];
    let out = run(PathBuf::from("kubectl"), args).await;
    succeeded(
        &format!("kubectl wait --for=condition={condition} wfe/{name}"),
        &out,
    );
}

#[test]
fn plugin_lists_clears_explains_and_shows_history_and_kubectl_wait_returns() {
    e2e("plugin-flow", |ctx| async move {
        let target = ctx.target("checkout");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "failed", &target, Behaviour::FailInTask { code: 2 }),
        )
        .await;
        wfe::wait(&ctx, "failed", "to fail and block its target", |w| {
            w.phase() == Phase::Failed
                && wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                    .is_some_and(|c| c.status == "True")
        })
        .await;

        // blocked: the target, its blocker, and the command to clear it.
        let out = plugin(&ctx, As::Admin, &["blocked", "-o", "json"]).await;
        let rows: Value = serde_json::from_str(&succeeded("kubectl wfe blocked", &out))
            .expect("blocked -o json is JSON");
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["target"] == target.as_str()))
            .unwrap_or_else(|| panic!("{target} not listed as blocked: {rows}"));
        assert_eq!(row["blockingWorkflowExecution"], "failed");
        assert_eq!(row["kind"], "PreviousExecutionFailed");
        assert!(
            row["clearCommand"]
                .as_str()
                .is_some_and(|c| c.starts_with("kubectl wfe clear failed -n ")),
            "{row}"
        );

        // A WFE on the blocked target is Skipped: kubectl wait for Succeeded=False returns and
        // why names the blocker and the next step.
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "skipped", &target, Behaviour::Succeed { seconds: 0 }),
        )
        .await;
        let skipped = wfe::wait_phase(&ctx, "skipped", Phase::Skipped).await;
        assert_eq!(
            skip_reason(&skipped),
            Some(SkipReason::PreviousExecutionFailed)
        );
        kubectl_wait(&ctx, "skipped", "Succeeded=False").await;
        let why = succeeded(
            "why skipped",
            &plugin(&ctx, As::Admin, &["why", "skipped"]).await,
        );
        assert!(why.contains("kubectl wfe clear failed"), "{why}");
        let why = succeeded(
            "why failed",
            &plugin(&ctx, As::Admin, &["why", "failed"]).await,
        );
        assert!(why.contains("It BLOCKS"), "{why}");

        // clear: refused locally, denied by the webhook for the bystander (verbatim), previewed
        // and then done by the authorised clearer.
        let out = plugin(
            &ctx,
            As::Clearer,
            &["clear", "failed", "--reason", "looks fine"],
        )
        .await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("block clearance not sent"),
            "{}",
            stderr(&out)
        );
        let out = plugin(
            &ctx,
            As::Bystander,
            &["clear", "failed", "--reason", REASON],
        )
        .await;
        assert!(
            !out.status.success(),
            "the bystander may not clear: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("block clearance denied"),
            "{}",
            stderr(&out)
        );
        let args = ["clear", "failed", "--reason", REASON, "--dry-run"];
        let preview = succeeded("clear --dry-run", &plugin(&ctx, As::Clearer, &args).await);
        assert!(
            preview.contains("Dry run") && preview.contains(CLEARER_USER),
            "{preview}"
        );
        let args = ["clear", "failed", "--reason", REASON];
        let done = succeeded("clear", &plugin(&ctx, As::Clearer, &args).await);
        assert!(
            done.contains(&format!("clearedBy:            {CLEARER_USER}")),
            "{done}"
        );
        wfe::wait(&ctx, "failed", "to report BlockCleared", |w| {
            wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                .is_some_and(|c| c.status == "False" && c.reason == "BlockCleared")
        })
        .await;
        let out = succeeded("blocked", &plugin(&ctx, As::Admin, &["blocked"]).await);
        assert!(!out.contains(&target), "{out}");

        // The next WFE runs; kubectl wait for Succeeded returns on it.
        let next = lifecycle::create_when_allowed(
            &ctx,
            "next",
            &target,
            Behaviour::Succeed { seconds: 0 },
        )
        .await;
        let next_name = next.metadata.name.clone().unwrap_or_default();
        kubectl_wait(&ctx, &next_name, "Succeeded").await;
        let why = succeeded(
            "why next",
            &plugin(&ctx, As::Admin, &["why", &next_name]).await,
        );
        assert!(why.contains("Completed"), "{why}");

        // history: every remediation of the target in order, with the clearance.
        let out = plugin(&ctx, As::Admin, &["history", &target, "-o", "json"]).await;
        let rows: Value = serde_json::from_str(&succeeded("history", &out)).expect("JSON");
        let rows = rows.as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names.first().copied(), Some("failed"), "{names:?}");
        assert_eq!(names.get(1).copied(), Some("skipped"), "{names:?}");
        assert_eq!(names.last().copied(), Some(next_name.as_str()), "{names:?}");
        assert_eq!(rows[0]["outcome"], "Failed");
        assert_eq!(rows[0]["cleared"]["by"], CLEARER_USER);
        assert_eq!(rows[1]["outcome"], "Skipped");
        assert_eq!(rows[rows.len() - 1]["outcome"], "Completed");
    });
}
