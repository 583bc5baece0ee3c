//! What the suite runs against, from `WFE_E2E_*` environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Who runs the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The suite starts the binary on the host.
    External,
    /// The product is already deployed in the cluster.
    InCluster,
}

/// Who runs PipelineRuns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TektonMode {
    /// The suite plays Tekton by writing run status.
    Simulated,
    /// Tekton Pipelines is installed.
    Real,
}

/// The suite's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kubeconfig: PathBuf,
    pub mode: Mode,
    pub tekton: TektonMode,
    pub bundle: String,
    pub timeout: Duration,
    pub work_dir: Option<PathBuf>,
}

/// Bundle reference written into WFEs with simulated Tekton (nothing pulls it).
pub const SIMULATED_BUNDLE: &str = "registry.e2e.example/kubernaut/e2e-workflow:v1";

impl Settings {
    /// `Ok(None)` when `WFE_E2E_KUBECONFIG` is unset or empty (the suite is skipped).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Option<Settings>, String> {
        let Some(kubeconfig) = vars.get("WFE_E2E_KUBECONFIG").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let mode = match vars.get("WFE_E2E_MODE").map(String::as_str) {
            None | Some("") | Some("external") => Mode::External,
            Some("in-cluster") => Mode::InCluster,
            Some(other) => {
                return Err(format!(
                    "WFE_E2E_MODE must be external or in-cluster, not {other:?}"
                ));
            }
        };
        let tekton = match vars.get("WFE_E2E_TEKTON").map(String::as_str) {
            None | Some("") | Some("simulated") => TektonMode::Simulated,
            Some("real") => TektonMode::Real,
            Some(other) => {
                return Err(format!(
                    "WFE_E2E_TEKTON must be simulated or real, not {other:?}"
                ));
            }
        };
        let timeout = match vars
            .get("WFE_E2E_TIMEOUT_SECONDS")
            .filter(|v| !v.is_empty())
        {
            None => Duration::from_secs(180),
            Some(v) => Duration::from_secs(v.parse::<u64>().map_err(|e| {
                format!("WFE_E2E_TIMEOUT_SECONDS must be a number of seconds, not {v:?}: {e}")
            })?),
        };
        let bundle = match (vars.get("WFE_E2E_BUNDLE").filter(|v| !v.is_empty()), tekton) {
            (Some(b), _) => b.clone(),
            (None, TektonMode::Simulated) => SIMULATED_BUNDLE.to_owned(),
            (None, TektonMode::Real) => {
                return Err("WFE_E2E_TEKTON=real needs WFE_E2E_BUNDLE: the Tekton bundle of tests/e2e/pipeline.yaml (see docs/install.md)".into());
            }
        };
        Ok(Some(Settings {
            kubeconfig: PathBuf::from(kubeconfig),
            mode,
            tekton,
            bundle,
            timeout,
            work_dir: vars
                .get("WFE_E2E_WORK_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }))
    }

    /// From the process environment.
    pub fn from_env() -> Result<Option<Settings>, String> {
        Settings::from_vars(&std::env::vars().collect())
    }
}
