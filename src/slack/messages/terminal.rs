//! Slack's mark-up made plain for a terminal, where the CLI prints what Slack would show:
//! code spans keep their text without backticks, bold stars and emoji codes go, a link shows
//! its address, Slack's escapes are undone, and control characters are shown escaped.

/// The text as a terminal should print it.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Between backticks is code: kept as it is, stars and colons included.
    for (n, part) in text.split('`').enumerate() {
        if n % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(&prose(part));
        }
    }
    super::escape_controls(&unescape(&links(&out)))
}

fn prose(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let at_word_start = out.is_empty() || out.ends_with(char::is_whitespace);
        if c == ':'
            && at_word_start
            && let Some(len) = emoji_len(rest)
        {
            rest = rest[len..].strip_prefix(' ').unwrap_or(&rest[len..]);
            continue;
        }
        rest = &rest[c.len_utf8()..];
        let next = rest.chars().next();
        // `_italic_`: an underscore that opens or closes a word, not one inside a name.
        let italic = c == '_'
            && (at_word_start || next.is_none_or(|n| n.is_whitespace() || ".,;:".contains(n)));
        if c != '*' && !italic {
            out.push(c);
        }
    }
    out
}

/// The length of an emoji code (`:white_check_mark:`) at the start of `s`: a lowercase name
/// between colons, so that times (`23:00:00`) and ARNs are never taken for one.
fn emoji_len(s: &str) -> Option<usize> {
    let name_len = s[1..].find(':')?;
    let name = &s[1..1 + name_len];
    let first = name.chars().next()?;
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '+' | '-'));
    (first.is_ascii_lowercase() && plain).then_some(name_len + 2)
}

/// `<https://…|label>` becomes `label (https://…)`, `<https://…>` the address, and `<@U…>`
/// the mention `@U…`.
fn links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = &rest[open..];
            break;
        };
        let inner = &rest[open + 1..open + close];
        match inner.split_once('|') {
            Some((url, label)) => out.push_str(&format!("{label} ({url})")),
            None => out.push_str(inner),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Slack's three escapes, undone last so that escaped text never reads as mark-up.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_mark_up_reads_plainly_in_a_terminal() {
        let cases = [
            (
                ":white_check_mark: Every region was read in full.",
                "Every region was read in full.",
            ),
            (
                "*Forensics for `AKIAIOSFODNN7EXAMPLE`* — 3 calls",
                "Forensics for AKIAIOSFODNN7EXAMPLE — 3 calls",
            ),
            ("`Deny * *` on `s3:*`", "Deny * * on s3:*"),
            (
                "at 2026-11-22T23:00:00Z in arn:aws:iam::111122223333:user/ci",
                "at 2026-11-22T23:00:00Z in arn:aws:iam::111122223333:user/ci",
            ),
            (
                "see <https://example.com/a|the alert> or <https://example.com/b>, ask <@U0ABC>",
                "see the alert (https://example.com/a) or https://example.com/b, ask @U0ABC",
            ),
            ("&lt;script&gt; &amp; more", "<script> & more"),
            (
                "• user backdoor_admin _(only an unverified file shows it)_.",
                "• user backdoor_admin (only an unverified file shows it).",
            ),
            // Escaped text from outside stays text: `&lt;` is never read as a link.
            ("&lt;https://evil|click&gt;", "<https://evil|click>"),
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
        ];
        for (slack, terminal) in cases {
            assert_eq!(for_terminal(slack), terminal, "{slack}");
        }
    }
}
