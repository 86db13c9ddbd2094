//! Builds the actix App: routes and shared state.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::auth::{require_api_key, ApiKeys};
use crate::body::BodyGate;
use crate::configuration::{ConfigError, Settings};
use crate::environment::Environment;
use crate::error::ApiError;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::origin::check_origin;
use crate::routes::{self, ValidateGate};
use crate::sandbox::Sandbox;
use crate::sessions::Sessions;
use crate::telemetry::request_log;

pub struct Application {
    port: u16,
    server: Server,
    sandbox: Arc<Sandbox>,
    sessions: Arc<Sessions>,
    jobs: Arc<Jobs>,
}

impl Application {
    /// Binds the port (0 picks a free one), starts the sandbox (detection and a probe run) and
    /// builds the server. Serving starts with `run_until_stopped`.
    /// A configuration that cannot fit in the memory budget is an error whose inner error is
    /// the `ConfigError` (see `config_error`).
    pub async fn build(mut settings: Settings) -> std::io::Result<Application> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let (sandbox, notes) = start_sandbox(&mut settings).await?;
        notes.iter().for_each(|n| log::warn!("memory budget: {n}"));
        let environment = Environment::load(&settings.sandbox.venv_path)
            .with_languages(sandbox.languages(), &settings.sandbox.root_path);
        // The manifest is written at setup time; a venv rebuilt on another Python without
        // setup-sandbox.sh would leave it stale. The probe has just asked the real interpreter.
        if let (Ok(manifest), Some(probed)) =
            (environment.manifest(), sandbox.health().python_version)
        {
            if manifest.python_version != probed {
                log::warn!(
                    "the sandbox runs python {probed} but its environment.json says {}; run scripts/setup-sandbox.sh",
                    manifest.python_version
                );
            }
        }
        let sessions = Sessions::start(sandbox.clone());
        // Jobs are counted in the same metrics as /execute's runs.
        let metrics = web::Data::new(Metrics::default());
        let jobs = Jobs::start(&settings, sandbox.clone(), metrics.clone()).await;
        let server = run(
            listener,
            settings,
            State {
                sandbox: sandbox.clone(),
                sessions: sessions.clone(),
                jobs: jobs.clone(),
                metrics,
            },
            environment,
        )?;
        Ok(Application {
            port,
            server,
            sandbox,
            sessions,
            jobs,
        })
    }

    /// The configuration error behind a failed `build` (or `start_sandbox`), if that is why it failed.
    pub fn config_error(error: &std::io::Error) -> Option<&ConfigError> {
        error.get_ref()?.downcast_ref::<ConfigError>()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting, lets running requests finish for up to
    /// `SHUTDOWN_TIMEOUT_SECS`, drops the rest (which kills their sandboxes), and finally kills
    /// the warm sandboxes and removes their cgroups. Sessions end with the server (their
    /// processes are killed and their cgroups removed).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // Jobs still running here are stopped and written `lost` before the sandbox goes.
        self.jobs.shutdown().await;
        self.sessions.shutdown().await;
        self.sandbox.shutdown().await;
        served
    }
}

/// Starts the sandbox as the server does (detection, the warm pool, the probe), then fits the
/// request memory limits into the memory budget: only once a warm sandbox is measured can the
/// pool and the largest request be fitted together. Returns what fitting changed, for the log.
/// The server's `build` and the command line's local runs (crate::cli) both start it here.
/// A configuration that cannot fit is an error whose inner error is the `ConfigError`.
pub async fn start_sandbox(
    settings: &mut Settings,
) -> std::io::Result<(Arc<Sandbox>, Vec<String>)> {
    let sandbox = Arc::new(Sandbox::start(settings.sandbox.clone(), settings.max_limits()).await);
    let budget = sandbox.memory_budget();
    match settings.fit_memory(budget.detected.budget_mib, budget.pool_mib) {
        Ok(notes) => Ok((sandbox, notes)),
        Err(e) => {
            sandbox.shutdown().await;
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        }
    }
}

/// What the routes share, built before the server.
struct State {
    sandbox: Arc<Sandbox>,
    sessions: Arc<Sessions>,
    jobs: Arc<Jobs>,
    metrics: web::Data<Metrics>,
}

fn run(
    listener: TcpListener,
    settings: Settings,
    state: State,
    environment: Environment,
) -> std::io::Result<Server> {
    let State {
        sandbox,
        sessions,
        jobs,
        metrics,
    } = state;
    let shutdown_secs = settings.shutdown_timeout_secs;
    // POST bodies are read by their handlers, after the middlewares (the API key) (see body.rs).
    let bodies = web::Data::new(BodyGate::new(
        settings.max_body_bytes,
        settings.max_bodies_in_flight_bytes,
        settings.body_read_timeout,
        sandbox.pace().clone(),
    ));
    let keys = web::Data::new(ApiKeys(settings.api_keys.clone()));
    let settings = web::Data::new(settings);
    let sandbox = web::Data::new(sandbox);
    let sessions = web::Data::new(sessions);
    let jobs = web::Data::new(jobs);
    let environment = web::Data::new(environment);
    let validate_gate = web::Data::new(ValidateGate::new(
        settings.validate_parsers,
        settings.validate_queue,
    ));
    let server = HttpServer::new(move || {
        App::new()
            // Inside the request log (registered first = inner), so refusals are logged too.
            .wrap(from_fn(check_origin))
            .wrap(from_fn(request_log))
            .app_data(bodies.clone())
            .app_data(settings.clone())
            .app_data(sandbox.clone())
            .app_data(sessions.clone())
            .app_data(jobs.clone())
            .app_data(metrics.clone())
            .app_data(keys.clone())
            .app_data(environment.clone())
            .app_data(validate_gate.clone())
            .service(
                web::resource("/execute")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::execute))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/execute/stream")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::execute_stream))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/batch")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::batch))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/sessions")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::create_session))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/sessions/{id}")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::describe_session))
                    .route(web::delete().to(routes::delete_session))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/sessions/{id}/execute/stream")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::execute_cell_stream))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/sessions/{id}/execute")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::execute_cell))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/jobs")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::submit_job))
                    .route(web::get().to(routes::list_jobs))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/jobs/{id}")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::describe_job))
                    .route(web::delete().to(routes::cancel_job))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/jobs/{id}/events")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::job_events))
                    .default_service(web::to(method_not_allowed)),
            )
            // The script library (crate::scripts): the jobs' store and owners.
            .service(
                web::resource("/scripts")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::create_script))
                    .route(web::get().to(routes::list_scripts))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/scripts/{id}")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::describe_script))
                    .route(web::put().to(routes::update_script))
                    .route(web::delete().to(routes::delete_script))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/scripts/{id}/versions/{version}")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::script_version))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/scripts/{id}/execute")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::execute_script))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/scripts/{id}/jobs")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::script_job))
                    .default_service(web::to(method_not_allowed)),
            )
            // MCP (crate::mcp): the same key as the API's. Stateless, so no GET stream and no
            // session to DELETE: both are 405, as the spec allows.
            .service(
                web::resource("/mcp")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::mcp))
                    .default_service(web::to(method_not_allowed)),
            )
            // Like /execute, these serve clients of the API, so they need its key.
            .service(
                web::resource("/validate")
                    .wrap(from_fn(require_api_key))
                    .route(web::post().to(routes::validate))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/environment")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::environment))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/health")
                    .route(web::get().to(routes::health))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/metrics")
                    .wrap(from_fn(require_api_key))
                    .route(web::get().to(routes::metrics))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(routes::openapi))
                    .default_service(web::to(method_not_allowed)),
            )
            // The playground and the API reference (routes/web.rs): no key, they hold no secret
            // and the page asks for the key itself; HEAD as GET (actix sends no body).
            .service(
                web::resource("/")
                    .route(web::get().to(routes::playground))
                    .route(web::head().to(routes::playground))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/docs")
                    .route(web::get().to(routes::docs))
                    .route(web::head().to(routes::docs))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/assets/{name}")
                    .route(web::get().to(routes::asset))
                    .route(web::head().to(routes::asset))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found))
    })
    .on_connect(|conn, ext| {
        no_delay(conn);
        crate::disconnect::on_connect(conn, ext);
    })
    .shutdown_timeout(shutdown_secs)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// TCP_NODELAY on every connection. A streamed answer (/execute/stream, a job's events) is
/// written as several small chunks; with Nagle's algorithm on, the last of them waits for the
/// client's ACK of the one before, which a client delays by up to 40 ms (measured: every
/// /execute/stream of a hello world took 44 ms here, /execute 5).
fn no_delay(conn: &dyn std::any::Any) {
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("TCP_NODELAY could not be set on a connection: {e}");
        }
    }
}
