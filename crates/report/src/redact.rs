//! Secrets never reach output. Every gate registers the secrets it knows (database passwords,
//! `replay.env` values) once; rendering redacts the whole report, and error output goes
//! through [`redact`] too. On top of the registered strings, URL passwords (`user:pw@`,
//! `?password=`) and `password=` keywords are masked wherever they appear, so a secret the
//! tool never saw (a driver quoting its connection string) is caught as well.

use std::sync::{LazyLock, Mutex};

use regex::Regex;

const MASK: &str = "***";
/// Shorter strings are too likely to occur in ordinary words to be replaced everywhere; they
/// are still masked where they stand as a URL password or `password=` value.
const MIN_SECRET_LEN: usize = 4;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn secrets() -> std::sync::MutexGuard<'static, Vec<String>> {
    SECRETS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Remember `secret` for the rest of the process: every later [`redact`] masks it, in its raw
/// and percent-encoded/decoded forms.
pub fn register_secret(secret: &str) {
    let mut forms = vec![secret.to_string()];
    if let Ok(decoded) = percent_decode(secret)
        && decoded != secret
    {
        forms.push(decoded);
    }
    let encoded = percent_encode(secret);
    if encoded != secret {
        forms.push(encoded);
    }
    let mut all = secrets();
    for f in forms {
        if f.chars().count() >= MIN_SECRET_LEN && !all.contains(&f) {
            all.push(f);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Register the password of a connection URL (userinfo or `password=` query parameter).
pub fn register_url_secrets(url: &str) {
    if let Some(pw) = userinfo_password(url) {
        register_secret(&pw);
    }
    for cap in QUERY_PASSWORD.captures_iter(url) {
        register_secret(&cap[2]);
    }
}

fn userinfo_password(url: &str) -> Option<String> {
    let c = URL_USERINFO.captures(url)?;
    let pw = c.get(2)?.as_str();
    (!pw.is_empty()).then(|| pw.to_string())
}

static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s/]*)@").expect("valid regex")
});
static QUERY_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)([?&]password=)([^&\s#'\x22]*)").expect("valid regex"));
static KEYWORD_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(\bpassword\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s,;&)'"]+)"#).expect("valid regex")
});

/// `text` with every registered secret, URL password and `password=` value masked.
pub fn redact(text: &str) -> String {
    let mut out = URL_USERINFO
        .replace_all(text, |c: &regex::Captures<'_>| format!("{}{MASK}@", &c[1]))
        .into_owned();
    out = QUERY_PASSWORD
        .replace_all(&out, |c: &regex::Captures<'_>| format!("{}{MASK}", &c[1]))
        .into_owned();
    out = KEYWORD_PASSWORD
        .replace_all(&out, |c: &regex::Captures<'_>| format!("{}{MASK}", &c[1]))
        .into_owned();
    for s in secrets().iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Redact every string inside a JSON value (section data).
pub fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = redact(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(redact_json),
        _ => {}
    }
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_in_every_form_are_masked() {
        let r = redact("cannot connect to postgres://app:s3cr3t@db:5432/x?sslmode=require");
        assert_eq!(
            r,
            "cannot connect to postgres://app:***@db:5432/x?sslmode=require"
        );
        let r = redact("postgresql://app@db/x?sslmode=require&password=hunter22&x=1");
        assert_eq!(r, "postgresql://app@db/x?sslmode=require&password=***&x=1");
        let r = redact("dsn: host=db password='a b c' user=app");
        assert_eq!(r, "dsn: host=db password=*** user=app");
    }

    #[test]
    fn registered_secrets_are_masked_raw_and_percent_encoded() {
        register_secret("p@ss/w0rd-unique");
        let r = redact("raised p@ss/w0rd-unique and p%40ss%2Fw0rd-unique");
        assert_eq!(r, "raised *** and ***");
        register_url_secrets("postgresql://u@h/db?password=q%26uery-unique");
        assert_eq!(redact("value q&uery-unique"), "value ***");
    }

    #[test]
    fn short_strings_are_not_masked_in_prose() {
        register_secret("ab");
        assert_eq!(redact("a table"), "a table");
    }
}
