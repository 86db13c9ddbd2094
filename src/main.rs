use python_script_api::configuration::Settings;
use python_script_api::startup::Application;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            log::error!("configuration: {e}");
            std::process::exit(2);
        }
    };
    let app = Application::build(settings).await?;
    log::info!("listening on port {}", app.port());
    app.run_until_stopped().await
}
