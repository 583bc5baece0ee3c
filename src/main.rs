use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use workflowexecution::cli::{
    CertsCommand, ClearancePolicyArgs, Cli, Command, ConfigArgs, WebhookConfigArgs,
};
use workflowexecution::config::{Config, Sources, config_path};
use workflowexecution::{logging, run, validate};

fn load_config(args: &ConfigArgs) -> Result<Config, ExitCode> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let sources = Sources {
        file: config_path(args.config.as_deref(), &env),
        env,
        set: args.set.clone(),
    };
    Config::load(&sources).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("workflowexecution {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Crd => match wfe_api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Config(args) => match load_config(&args) {
            Ok(cfg) => {
                print!("{}", cfg.to_yaml());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Certs {
            command:
                CertsCommand::Generate {
                    out_dir,
                    dns,
                    ip,
                    days,
                },
        } => certs_generate(out_dir, dns, ip, days),
        Command::WebhookConfig(args) => webhook_config(&args),
        Command::ClearancePolicy(args) => clearance_policy(&args),
        Command::Validate { files, config } => validate_files(&files, &config),
        Command::Run(args) => run_service(&args),
    }
}

fn clearance_policy(args: &ClearancePolicyArgs) -> ExitCode {
    let cfg = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let controller = args
        .controller_username
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| Some(cfg.controller_identity.trim().to_owned()).filter(|u| !u.is_empty()))
        .unwrap_or_else(|| wfe_api::keys::DEFAULT_CONTROLLER_USERNAME.to_owned());
    let policy = run::block_policy(&cfg, &controller);
    let opts = wfe_webhook::ProvenancePolicyOptions::for_policy(&args.namespace, &policy);
    match wfe_webhook::provenance_policy_yaml(&opts) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render the clearance policy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn webhook_config(args: &WebhookConfigArgs) -> ExitCode {
    let ca_bundle_pem = match &args.ca_bundle {
        None => String::new(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => pem,
            Ok(_) => {
                eprintln!(
                    "error: --ca-bundle {}: not a PEM certificate",
                    path.display()
                );
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: --ca-bundle {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let target = match &args.url {
        Some(url) if url.starts_with("https://") => wfe_webhook::ClientTarget::Url {
            base: url.trim_end_matches('/').to_owned(),
        },
        Some(url) => {
            eprintln!("error: --url {url:?}: the API server only calls webhooks over https://");
            return ExitCode::from(2);
        }
        None => wfe_webhook::ClientTarget::Service {
            namespace: args.service_namespace.clone(),
            name: args.service_name.clone(),
            port: 443,
        },
    };
    let opts = wfe_webhook::WebhookConfigOptions {
        target,
        ca_bundle_pem,
        controller_username: args.controller_username.clone(),
    };
    match wfe_webhook::webhook_configurations_yaml(&opts) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot render the webhook configurations: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `certs generate`: a CA and a serving certificate for kind or a local API server.
fn certs_generate(
    out_dir: std::path::PathBuf,
    dns: Vec<String>,
    ip: Vec<std::net::IpAddr>,
    days: u32,
) -> ExitCode {
    let mut opts = wfe_certs::GenerateOptions {
        validity_days: days,
        ..Default::default()
    };
    if !dns.is_empty() || !ip.is_empty() {
        opts.dns_names = dns;
        opts.ip_addresses = ip;
    }
    match wfe_certs::generate(&opts).and_then(|c| c.write_to_dir(&out_dir)) {
        Ok(()) => {
            println!(
                "wrote {0}/ca.crt, {0}/tls.crt and {0}/tls.key",
                out_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `validate -f`: the admission spec rules, offline; exit 1 on any violation.
fn validate_files(files: &[std::path::PathBuf], config: &ConfigArgs) -> ExitCode {
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let policy = run::spec_policy(&cfg);
    let mut report = validate::Report::default();
    for f in files {
        validate::check_file(f, &policy, &mut report);
    }
    print!("{}", report.text);
    if report.invalid > 0 {
        eprintln!(
            "{} of {} document(s) invalid",
            report.invalid, report.documents
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `run`: the whole service against the current kube context.
fn run_service(args: &ConfigArgs) -> ExitCode {
    let cfg = match load_config(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    logging::init(&cfg.logging);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "workflowexecution stopped with an error");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
