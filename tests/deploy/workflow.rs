//! The kind E2E workflow: valid YAML, and every command it runs is also given to a person in
//! the docs.

use super::*;

/// Joins shell continuation lines and drops blanks and comments.
fn shell_commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part.trim_end());
            current.push(' ');
        } else {
            current.push_str(line);
            commands.push(normalise(&current));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        commands.push(normalise(&current));
    }
    commands
}

fn normalise(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn workflow_path() -> PathBuf {
    Path::new(ROOT).join(".github/workflows/e2e.yaml")
}

#[test]
fn e2e_workflow_is_valid_yaml_and_every_command_is_documented() {
    let workflow: Value =
        serde_saphyr::from_str_with_options(&read(&workflow_path()), yaml_options())
            .expect(".github/workflows/e2e.yaml is YAML");
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert!(!jobs.is_empty());
    let docs: String = ["docs/install.md", "docs/runbook.md", "README.md"]
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(ROOT).join(p)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let documented: BTreeSet<String> = docs
        .split("```")
        .skip(1)
        .step_by(2)
        .flat_map(shell_commands)
        .collect();
    let mut undocumented = Vec::new();
    let mut count = 0;
    let mut in_order = Vec::new();
    for (_, job) in jobs {
        assert!(job.get("runs-on").is_some(), "a job without runs-on");
        for step in job["steps"].as_array().expect("steps") {
            if let Some(script) = str_at(step, &["run"]) {
                for command in shell_commands(script) {
                    count += 1;
                    in_order.push(command.clone());
                    if !documented.contains(&command) {
                        undocumented.push(command);
                    }
                }
            }
        }
    }
    // The service overlays no longer carry the CRD and the namespaces: CI installs them first.
    let position = |wanted: &str| in_order.iter().position(|c| c.starts_with(wanted));
    let overlay = position("kubectl apply -k deploy/overlays/").expect("CI installs an overlay");
    for first in [
        "kubectl apply -k deploy/namespaces",
        "kubectl apply -k deploy/crd",
    ] {
        assert!(
            position(first).is_some_and(|p| p < overlay),
            "CI must run `{first}` before the overlay"
        );
    }
    assert!(
        count > 10,
        "the workflow runs suspiciously few commands ({count})"
    );
    assert!(
        undocumented.is_empty(),
        "commands of the kind workflow that docs/install.md or docs/runbook.md do not give a person:\n  {}",
        undocumented.join("\n  ")
    );
}

#[test]
fn shell_commands_join_continuations_and_skip_comments() {
    let cmds = shell_commands("# c\n\nkubectl apply \\\n   -k deploy/x\n  echo  hi  \n");
    assert_eq!(cmds, ["kubectl apply -k deploy/x", "echo hi"]);
}
