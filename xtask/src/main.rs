//! The project's task runner: `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//! It is the only place that knows about devices, jobs and (later) Slurm. Today it runs the
//! performance suite; `bench`, `datasets`, `train` and `aggregate` arrive with their issues.

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "nf-rl developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the criterion benchmarks (training step, sampling latency); extra args go to criterion.
    Perf {
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Perf { args } => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["bench", "-p", "nf-core", "--bench", "flow", "--"])
                .args(&args)
                .status()
                .context("running cargo bench")?;
            if !status.success() {
                bail!("cargo bench failed ({status})");
            }
            Ok(())
        }
    }
}
