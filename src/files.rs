//! A request's input files, checked before anything runs: each name can only mean a plain file in
//! the run's working directory, each content decodes, and their count and size stay in the caps.

use std::collections::HashSet;

use base64::Engine;
use serde::Deserialize;

use crate::file_names::input_name_problem;
use crate::sandbox::{Encoding, InputFile};

/// One entry of the request's `files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    pub name: String,
    pub content: String,
    /// `utf8` (the default) or `base64`.
    pub encoding: Option<Encoding>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("files[{index}]: the name {name} is not allowed: {reason}")]
    BadName {
        index: usize,
        name: String,
        reason: &'static str,
    },
    #[error("files[{index}]: the name {name} is used twice")]
    Duplicate { index: usize, name: String },
    #[error("files[{index}] ({name}): the content is not valid base64: {detail}")]
    BadBase64 {
        index: usize,
        name: String,
        detail: String,
    },
    #[error("the request has {count} files; the limit is {max}")]
    TooMany { count: usize, max: usize },
    #[error("the files come to more than {max} bytes once decoded, their limit")]
    TooLarge { max: usize },
}

/// The name as an error message shows it: quoted, escaped, and cut short.
fn shown(name: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    let mut cut: String = name.chars().take(SHOWN_CHARS).collect();
    if cut.len() < name.len() {
        cut.push_str("...");
    }
    format!("{cut:?}")
}

/// Checks the files in order: the count first, then each name and content. Base64 may be wrapped
/// in lines (ASCII whitespace is ignored), and needs its `=` padding.
pub fn check_files(
    files: Vec<FileRequest>,
    max_files: usize,
    max_bytes: usize,
) -> Result<Vec<InputFile>, FileError> {
    if files.len() > max_files {
        return Err(FileError::TooMany {
            count: files.len(),
            max: max_files,
        });
    }
    let mut names = HashSet::with_capacity(files.len());
    let mut total = 0usize;
    let mut checked = Vec::with_capacity(files.len());
    for (index, file) in files.into_iter().enumerate() {
        if let Some(reason) = input_name_problem(&file.name) {
            return Err(FileError::BadName {
                index,
                name: shown(&file.name),
                reason,
            });
        }
        if !names.insert(file.name.clone()) {
            return Err(FileError::Duplicate {
                index,
                name: shown(&file.name),
            });
        }
        let encoding = file.encoding.unwrap_or(Encoding::Utf8);
        let size = match encoding {
            Encoding::Utf8 => file.content.len(),
            Encoding::Base64 => {
                let compact: Vec<u8> = file
                    .content
                    .bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                // Padding included, this is at most 2 bytes above the decoded size: a file that
                // is over the cap anyway is not decoded.
                if (compact.len() / 4 * 3).saturating_sub(2) > max_bytes - total {
                    return Err(FileError::TooLarge { max: max_bytes });
                }
                base64::engine::general_purpose::STANDARD
                    .decode(&compact)
                    .map_err(|e| FileError::BadBase64 {
                        index,
                        name: shown(&file.name),
                        detail: e.to_string(),
                    })?
                    .len()
            }
        };
        total = total
            .checked_add(size)
            .filter(|&t| t <= max_bytes)
            .ok_or(FileError::TooLarge { max: max_bytes })?;
        checked.push(InputFile {
            name: file.name,
            content: file.content,
            encoding,
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str, encoding: Option<Encoding>) -> FileRequest {
        FileRequest {
            name: name.to_string(),
            content: content.to_string(),
            encoding,
        }
    }

    fn check(files: Vec<FileRequest>) -> Result<Vec<InputFile>, FileError> {
        check_files(files, 3, 100)
    }

    #[test]
    fn plain_names_pass() {
        let ok = check(vec![
            file("data.csv", "a,b\n1,2\n", None),
            file(".hidden ünïcode (1).json", "{}", Some(Encoding::Utf8)),
            file("x y", "", None),
        ])
        .unwrap();
        assert_eq!(ok.len(), 3);
        assert!(check(vec![file(&"n".repeat(255), "", None)]).is_ok());
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let long = "n".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a/b",
            "a/",
            "x\0y",
            "a\nb",
            "..\\..\\x",
            "output",
            ".matplotlib",
            &long,
        ] {
            let err = check(vec![file(bad, "", None)]).unwrap_err();
            assert!(matches!(err, FileError::BadName { .. }), "{bad:?}: {err}");
        }
        let err = check(vec![file("a", "", None), file("a", "", None)]).unwrap_err();
        assert_eq!(
            err,
            FileError::Duplicate {
                index: 1,
                name: "\"a\"".into()
            }
        );
        let shown = check(vec![file(&long, "", None)]).unwrap_err().to_string();
        assert!(shown.len() < 150, "{shown}");
    }

    #[test]
    fn base64_must_decode() {
        let ok = check(vec![file("b", "AAEC/w==\n", Some(Encoding::Base64))]).unwrap();
        assert_eq!(ok[0].content, "AAEC/w==\n");
        for bad in ["AAEC/w=", "AA!C", "AAEC-w==", "A"] {
            let err = check(vec![file("b", bad, Some(Encoding::Base64))]).unwrap_err();
            assert!(matches!(err, FileError::BadBase64 { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn count_and_size_are_capped() {
        let four = (0..4).map(|i| file(&i.to_string(), "", None)).collect();
        assert_eq!(
            check(four).unwrap_err(),
            FileError::TooMany { count: 4, max: 3 }
        );
        let big = vec![
            file("a", &"x".repeat(60), None),
            file("b", &"x".repeat(41), None),
        ];
        assert_eq!(check(big).unwrap_err(), FileError::TooLarge { max: 100 });
        let exact = vec![
            file("a", &"x".repeat(60), None),
            file("b", &"x".repeat(40), None),
        ];
        assert!(check(exact).is_ok());
        // 102 bytes in base64: refused before decoding, as is a much larger one.
        let b64 = "A".repeat(136);
        let err = check(vec![file("a", &b64, Some(Encoding::Base64))]).unwrap_err();
        assert_eq!(err, FileError::TooLarge { max: 100 });
        let b64 = "AAAA".repeat(25);
        assert!(check(vec![file("a", &b64, Some(Encoding::Base64))]).is_ok());
    }
}
