//! `kubectl-wfe`: on PATH it is `kubectl wfe ...`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use wfe_plugin::cli::Cli;
use wfe_plugin::{PluginError, connect::connect, execute, policy};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&PluginError::Output(format!("cannot start: {e}"))),
    };
    let outcome = runtime.block_on(async {
        let (client, namespace) = connect(&cli.global).await?;
        execute(
            &cli.command,
            client,
            &namespace,
            &policy(&cli.global),
            jiff::Timestamp::now(),
        )
        .await
    });
    match outcome {
        Ok(printed) => {
            let mut err = std::io::stderr().lock();
            for w in &printed.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            let mut out = std::io::stdout().lock();
            if out.write_all(printed.stdout.as_bytes()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &PluginError) -> ExitCode {
    match e {
        // The API server's (or webhook's) own words, unchanged, like kubectl prints them.
        PluginError::Denied { code, message } => eprintln!("Error from server ({code}): {message}"),
        other => eprintln!("error: {other}"),
    }
    ExitCode::FAILURE
}
