//! `python-script-api serve`, and the binary with no subcommand: the HTTP server, configured from
//! the environment, until SIGTERM or SIGINT. What main.rs did before the command line existed.

use crate::configuration::{LogFormat, Settings};
use crate::startup::Application;
use crate::telemetry::init_logging;

pub async fn serve() -> std::io::Result<()> {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            init_logging(LogFormat::Json);
            log::error!("configuration: {e}");
            std::process::exit(2);
        }
    };
    init_logging(settings.log_format);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => match Application::config_error(&e) {
            Some(config) => {
                log::error!("configuration: {config}");
                std::process::exit(2);
            }
            None => return Err(e),
        },
    };
    log::info!("listening on port {}", app.port());
    app.run_until_stopped().await?;
    log::info!("stopped");
    Ok(())
}
