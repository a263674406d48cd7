//! Secrets that people paste: found anywhere in free text, replaced in place before the text
//! is kept, shown or logged. A secret access key is 40 characters of base64's alphabet; a
//! session token is hundreds. Both are found wherever they stand: after `=` or `:`, in quotes
//! or backticks, before a full stop.

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A session token is far longer than anything else base64-shaped a person types.
const TOKEN_MIN: usize = 100;

/// Text with every secret-shaped run replaced by [`REDACTED`], and whether there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub found: bool,
}

pub fn redact(text: &str) -> Redacted {
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut run_start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if is_secret_char(c) && i < text.len() {
            run_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = run_start.take() {
            let run = &text[start..i];
            if is_secret(run) {
                out.push_str(REDACTED);
                found = true;
            } else {
                out.push_str(run);
            }
        }
        if i < text.len() {
            out.push(c);
        }
    }
    Redacted { text: out, found }
}

fn is_secret_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '/' || c == '+'
}

/// A run of base64 characters is a secret access key when it is 40 long and not a word or an
/// id (it has lower case, `/` or `+`), and a session token when it is very long. Padding `=`
/// ends a run, so `key=SECRET` and a token's trailing `==` are both caught.
fn is_secret(run: &str) -> bool {
    let mixed = run
        .chars()
        .any(|c| c.is_ascii_lowercase() || c == '/' || c == '+');
    let has_upper_or_digit = run
        .chars()
        .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (run.len() == 40 && mixed && has_upper_or_digit) || run.len() >= TOKEN_MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example secret access key.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn a_secret_is_found_wherever_it_stands() {
        for (pasted, kept) in [
            (
                format!("aws_secret_access_key={SECRET}"),
                "aws_secret_access_key=[redacted]",
            ),
            (
                format!("leaked `{SECRET}` in CI"),
                "leaked `[redacted]` in CI",
            ),
            (format!("said \"{SECRET}\""), "said \"[redacted]\""),
            (format!("it was {SECRET}."), "it was [redacted]."),
            (SECRET.to_string(), "[redacted]"),
            (
                format!("secret: '{SECRET}', rotate"),
                "secret: '[redacted]', rotate",
            ),
        ] {
            let r = redact(&pasted);
            assert_eq!(r.text, kept, "{pasted}");
            assert!(r.found);
        }
    }

    #[test]
    fn a_session_token_is_found_too() {
        let token = format!("IQoJb3JpZ2luX2VjE{}==", "A1b2C3d4/+".repeat(20));
        let r = redact(&format!("token {token} end"));
        assert_eq!(r.text, "token [redacted]== end");
        assert!(r.found);
    }

    #[test]
    fn ordinary_text_ids_and_key_ids_are_kept() {
        for text in [
            "contain AKIAIOSFODNN7EXAMPLE pushed to a public repo",
            "cleanup KL-1A2B3C4D delete-user attacker-admin",
            "arn:aws:iam::123456789012:user/ci-deploy",
            "a 40 letter word made of only lowercase ab",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890123",
            "",
        ] {
            let r = redact(text);
            assert_eq!(r.text, text);
            assert!(!r.found, "{text}");
        }
    }
}
