//! The binary: the command line's arguments, then the server (the default) or a subcommand.
//! Everything else lives in the library (crate::cli and below).

use clap::Parser;
use python_script_api::cli::{self, Cli, Command};

#[actix_web::main]
async fn main() -> std::io::Result<std::process::ExitCode> {
    Ok(match Cli::parse().command {
        None | Some(Command::Serve) => {
            cli::serve().await?;
            std::process::ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => cli::run(args).await,
        Some(Command::Validate(args)) => cli::validate(args).await,
    })
}
