use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use workflowexecution::cli::{Cli, Command, ConfigArgs};
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
        Command::Validate { files, config } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let policy = run::spec_policy(&cfg);
            let mut report = validate::Report::default();
            for f in &files {
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
        Command::Run(args) => {
            let cfg = match load_config(&args) {
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
    }
}
