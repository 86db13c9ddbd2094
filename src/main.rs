use python_script_api::configuration::{LogFormat, Settings};
use python_script_api::startup::Application;
use python_script_api::telemetry::init_logging;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
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
