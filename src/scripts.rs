//! The script library (issue 16): scripts saved under a name, in versions, and run later by id
//! (POST /scripts/{id}/execute and /scripts/{id}/jobs run them exactly as /execute and POST /jobs
//! run a script sent with the request). This is the library's rules, in one place: what a name
//! may be, what a description defaults to, and whose a script is (as a job: the SHA-256 of the
//! API key that saved it; another key's script is a 404, as one that never existed). Scripts live
//! in the jobs' store (crate::store::scripts) and are never deleted by the jobs' retention.
//!
//! Not here: the HTTP side (crate::routes::scripts), the script's checks (/execute's own:
//! crate::routes::check_request), the database (crate::store).

use crate::error::ApiError;
use crate::script::PythonScript;
use crate::store::scripts::{NewScript, NewVersion, Saved, ScriptRecord, VersionRecord};
use crate::store::{now_ms, ScriptRef, Store};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest description, in characters. A docstring that is longer is cut to it.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// A name is 1 to `MAX_NAME_CHARS` ASCII letters, digits, `.`, `_` and `-`, starting with a
/// letter or a digit: safe in a URL, a file name and a log line as it is.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.len() <= MAX_NAME_CHARS;
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(format!(
            "name must be 1 to {MAX_NAME_CHARS} ASCII letters, digits, '.', '_' or '-', \
             starting with a letter or a digit"
        )))
    }
}

/// The description a version is saved with: the one given (at most `MAX_DESCRIPTION_CHARS`),
/// or main()'s docstring (cut to that length), or empty.
pub fn description(given: Option<String>, script: &PythonScript) -> Result<String, ApiError> {
    match given {
        Some(given) if given.chars().count() > MAX_DESCRIPTION_CHARS => {
            Err(ApiError::InvalidRequest(format!(
                "description must be at most {MAX_DESCRIPTION_CHARS} characters"
            )))
        }
        Some(given) => Ok(given),
        None => Ok(script
            .main_docstring()
            .map(|doc| doc.chars().take(MAX_DESCRIPTION_CHARS).collect())
            .unwrap_or_default()),
    }
}

fn not_found() -> ApiError {
    ApiError::ScriptNotFound(
        "no such script: it never existed, belongs to another API key, or was deleted".to_string(),
    )
}

/// Saves a checked script as version 1 of a new script of `owner`.
pub async fn create(
    store: &Store,
    owner: Option<String>,
    name: String,
    script: &PythonScript,
    description: String,
) -> Result<ScriptRecord, ApiError> {
    let now = now_ms();
    let new = NewScript {
        id: crate::sessions::new_id()?,
        owner,
        name,
        source: script.source().to_string(),
        description,
        created_at: now,
    };
    match store.create_script(&new).await? {
        Saved::Done(()) => Ok(ScriptRecord {
            seq: 0,
            id: new.id,
            owner: new.owner,
            name: new.name,
            latest: 1,
            description: new.description,
            created_at: now,
            updated_at: now,
        }),
        Saved::NameTaken => Err(ApiError::ScriptNameTaken(new.name)),
    }
}

/// `owner`'s script `id`, as its newest version describes it.
pub async fn get(store: &Store, id: &str, owner: Option<&str>) -> Result<ScriptRecord, ApiError> {
    match store.get_script(id).await? {
        Some(script) if script.owner.as_deref() == owner => Ok(script),
        _ => Err(not_found()),
    }
}

/// Version `version` (the newest when `None`) of `owner`'s script `id`, with the script.
pub async fn version(
    store: &Store,
    id: &str,
    owner: Option<&str>,
    version: Option<i64>,
) -> Result<(ScriptRecord, VersionRecord), ApiError> {
    let script = get(store, id, owner).await?;
    let number = version.unwrap_or(script.latest);
    match store.script_version(id, number).await? {
        Some(found) => Ok((script, found)),
        // Deleted meanwhile, or a version it never had.
        None if version.is_some() => Err(ApiError::ScriptNotFound(format!(
            "script {id} has no version {number}: its versions are 1 to {}",
            script.latest
        ))),
        None => Err(not_found()),
    }
}

/// The source to run, and what a job records of it: version `version` (the newest when `None`)
/// of `owner`'s script `id`.
pub async fn source(
    store: &Store,
    id: &str,
    owner: Option<&str>,
    wanted: Option<i64>,
) -> Result<(ScriptRef, String), ApiError> {
    let (script, found) = version(store, id, owner, wanted).await?;
    Ok((
        ScriptRef {
            id: script.id,
            version: found.version,
        },
        found.source,
    ))
}

/// Saves a checked script as the next version of `owner`'s script `id` (renamed to `name`, if
/// given); returns its number.
pub async fn update(
    store: &Store,
    id: &str,
    owner: Option<&str>,
    name: Option<&str>,
    script: &PythonScript,
    description: &str,
) -> Result<i64, ApiError> {
    let new = NewVersion {
        id,
        owner,
        name,
        source: script.source(),
        description,
        created_at: now_ms(),
    };
    match store.add_version(&new).await? {
        Saved::Done(Some(number)) => Ok(number),
        Saved::Done(None) => Err(not_found()),
        Saved::NameTaken => Err(ApiError::ScriptNameTaken(
            name.unwrap_or_default().to_string(),
        )),
    }
}

/// Deletes `owner`'s script `id` and every version of it. The jobs that ran it keep their
/// answers (and the source they ran, in their request), until their own retention.
pub async fn delete(store: &Store, id: &str, owner: Option<&str>) -> Result<(), ApiError> {
    if store.delete_script(id, owner).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_and_start_with_a_letter_or_digit() {
        for good in ["a", "report-2026.v1", "A_b", &"x".repeat(MAX_NAME_CHARS)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".hidden",
            "a b",
            "a/b",
            "é",
            "a\n",
            &"x".repeat(MAX_NAME_CHARS + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_description_defaults_to_mains_docstring_cut_to_the_limit() {
        let script = |s: &str| PythonScript::parse(s.to_string(), 1 << 20).unwrap();
        let documented = script("def main():\n    \"\"\"Sums.\"\"\"\n    return 1\n");
        assert_eq!(description(None, &documented).unwrap(), "Sums.");
        assert_eq!(
            description(Some("mine".into()), &documented).unwrap(),
            "mine"
        );
        assert_eq!(description(Some(String::new()), &documented).unwrap(), "");
        let bare = script("def main():\n    return 1\n");
        assert_eq!(description(None, &bare).unwrap(), "");
        let long = "é".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert!(description(Some(long.clone()), &bare).is_err());
        let long_doc = script(&format!("def main():\n    '{long}'\n"));
        assert_eq!(
            description(None, &long_doc).unwrap().chars().count(),
            MAX_DESCRIPTION_CHARS
        );
    }
}
