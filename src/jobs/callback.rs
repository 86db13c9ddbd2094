//! `callback_url`: where a job's end is POSTed. Only to hosts the operator lists
//! (`JOBS_CALLBACK_HOSTS`): the server must not become a way to reach whatever its network
//! reaches. The URL is checked when the job is submitted (`check`, a 400 otherwise), and the
//! delivery (`deliver`) makes a few attempts, each under a timeout, and follows no redirect (a
//! listed host could otherwise send the call anywhere).
//!
//! Not here: when a delivery happens (`mod.rs`, once the job's end is written), the settings
//! (crate::configuration::jobs).

use std::time::Duration;

use reqwest::Url;

use crate::error::ApiError;

/// Attempts per delivery, the pause before each retry, and each attempt's timeout.
const ATTEMPTS: usize = 3;
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest URL accepted.
const MAX_URL_BYTES: usize = 2048;

/// Checks `url` against the operator's list: http or https, and a host (`host` or `host:port`)
/// that `hosts` names.
pub fn check(url: &str, hosts: &[String]) -> Result<(), ApiError> {
    let refuse = |why: String| ApiError::InvalidRequest(format!("callback_url: {why}"));
    if url.len() > MAX_URL_BYTES {
        return Err(refuse(format!("longer than {MAX_URL_BYTES} bytes")));
    }
    let parsed = Url::parse(url).map_err(|e| refuse(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse("must be http:// or https://".to_string()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("must not carry credentials".to_string()));
    }
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    let with_port = parsed
        .port()
        .map_or_else(|| host.clone(), |port| format!("{host}:{port}"));
    if hosts.iter().any(|h| *h == host || *h == with_port) {
        return Ok(());
    }
    if hosts.is_empty() {
        return Err(refuse(
            "this server calls no one back: the operator lists the hosts it may call in \
             JOBS_CALLBACK_HOSTS"
                .to_string(),
        ));
    }
    Err(refuse(format!(
        "{host} is not among the hosts this server may call (JOBS_CALLBACK_HOSTS)"
    )))
}

/// POSTs `body` (JSON) to `url`: up to `ATTEMPTS` tries until one gets a 2xx. Returns whether
/// one did; the failures are logged.
pub async fn deliver(url: &str, body: Vec<u8>) -> bool {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            log::error!("jobs: no HTTP client for callbacks: {e}");
            return false;
        }
    };
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RETRY_AFTER[(attempt - 1).min(RETRY_AFTER.len() - 1)]).await;
        }
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => log::warn!(
                "jobs: callback attempt {} got {}",
                attempt + 1,
                response.status()
            ),
            Err(e) => log::warn!("jobs: callback attempt {} failed: {e}", attempt + 1),
        }
    }
    log::error!("jobs: a callback failed {ATTEMPTS} times; the job's end stays readable with GET");
    false
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn only_listed_hosts_are_called_back() {
        let hosts = vec![
            "hooks.example.com".to_string(),
            "127.0.0.1:9000".to_string(),
        ];
        assert!(check("https://hooks.example.com/done", &hosts).is_ok());
        assert!(check("https://HOOKS.example.com:8443/done", &hosts).is_ok());
        assert!(check("http://127.0.0.1:9000/x", &hosts).is_ok());
        for refused in [
            "http://127.0.0.1:9001/x",
            "http://169.254.169.254/computeMetadata/v1/",
            "https://hooks.example.com.evil.test/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(check(refused, &hosts).is_err(), "{refused}");
        }
        let none = check("https://hooks.example.com/", &[]).unwrap_err();
        assert!(none.to_string().contains("JOBS_CALLBACK_HOSTS"), "{none}");
    }
}
