//! The environment every child of a replay gets (Alembic's env.py, `migrations.upgrade`, fix
//! commands, psql): the scratch database and nothing else.
//!
//! - `DATABASE_URL` in the form SQLAlchemy 2.x accepts (`postgresql://`, never `postgres://`),
//!   or `replay.database-url`'s template (another driver: asyncpg, psycopg 3);
//! - `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` naming the scratch database, so a
//!   bare `psql -c …` lands there too;
//! - everything inherited that could name another database is removed first: every `PG*`
//!   variable, `DATABASE_URL`, `GATE_DATABASE_URL`, and any variable whose value is a
//!   PostgreSQL URL. A fix must never reach the database the CI job happens to point at.
//! - `replay.env`, with `${VAR}` taken from the gate's own environment (`${DATABASE_URL}` and
//!   `${PG…}` mean the scratch values). Every value is registered as a secret.

use std::collections::BTreeMap;
use std::ffi::OsString;

use gate_policy::Policy;

use crate::error::ReplayError;

/// `replay.env` and `replay.database-url`, resolved once per replay.
#[derive(Debug, Clone)]
pub struct EnvTemplate {
    database_url: String,
    /// `replay.env` with `${VAR}` from the gate's environment already expanded, except the
    /// scratch names, which are expanded per database.
    extra: Vec<(String, String)>,
    /// Inherited variables to remove from every child.
    remove: Vec<OsString>,
}

/// The environment for children working on one scratch database.
#[derive(Clone)]
pub struct ChildEnv {
    /// The scratch URL as the backend made it, for in-process connections (sqlx).
    url: String,
    set: Vec<(String, String)>,
    remove: Vec<OsString>,
}

impl std::fmt::Debug for ChildEnv {
    // Hand-written: values are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildEnv")
            .field("set", &self.set.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("removed", &self.remove.len())
            .finish()
    }
}

/// Names the replay owns: scratch values, never inherited.
fn owned_name(name: &str) -> bool {
    name.starts_with("PG") || name == "DATABASE_URL" || name == "GATE_DATABASE_URL"
}

fn names_a_database(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    v.contains("postgres://") || v.contains("postgresql://") || v.contains("postgresql+")
}

impl EnvTemplate {
    /// Resolve `replay.env` against the gate's own environment. A `${VAR}` that is not set is
    /// a configuration error naming the key, so a missing CI secret is not mistaken for a
    /// failing migration.
    pub fn new(policy: &Policy) -> Result<EnvTemplate, ReplayError> {
        Self::with_environment(policy, std::env::vars_os())
    }

    fn with_environment(
        policy: &Policy,
        vars: impl Iterator<Item = (OsString, OsString)>,
    ) -> Result<EnvTemplate, ReplayError> {
        let mut own = BTreeMap::new();
        let mut remove = Vec::new();
        let mut databases = Vec::new();
        for (k, v) in vars {
            let name = k.to_string_lossy().into_owned();
            let value = v.to_string_lossy().into_owned();
            if owned_name(&name) || names_a_database(&value) {
                if !owned_name(&name) {
                    databases.push(name);
                }
                remove.push(k);
            } else {
                own.insert(name, value);
            }
        }
        let mut extra = Vec::new();
        let mut missing = Vec::new();
        for (name, raw) in &policy.replay.env {
            let value = expand(raw, &|var| {
                if owned_name(var) {
                    // expanded per database
                    return Some(format!("${{{var}}}"));
                }
                own.get(var).cloned()
            });
            match value {
                Ok(v) => extra.push((name.clone(), v)),
                Err(var) if databases.contains(&var) => missing.push(format!(
                    "replay.env.{name} uses ${{{var}}}, which holds a PostgreSQL URL: children may reach only the scratch database (write ${{DATABASE_URL}} for it)"
                )),
                Err(var) => missing.push(format!(
                    "replay.env.{name} uses ${{{var}}}, which is not set in the gate's environment"
                )),
            }
        }
        if !missing.is_empty() {
            let place = match policy.key_lines.get("replay.env") {
                Some(line) => format!("{}:{line}", policy.file.display()),
                None => policy.file.display().to_string(),
            };
            return Err(ReplayError::Config(format!(
                "{place}: {}; set it in the CI job's environment (e.g. from a secret) or write the value into replay.env",
                missing.join("; "),
            )));
        }
        for (_, v) in &extra {
            if !is_plain_flag(v) {
                gate_report::redact::register_secret(v);
            }
        }
        Ok(EnvTemplate {
            database_url: policy.replay.database_url.clone(),
            extra,
            remove,
        })
    }

    /// The environment for children that work on the database at `url` (a scratch URL the
    /// backend made: `postgres://user:pw@host:port/name[?params]`).
    pub fn for_database(&self, url: &str) -> Result<ChildEnv, ReplayError> {
        let c = ConnParts::parse(url)?;
        gate_report::redact::register_secret(&c.password);
        let database_url = c.render(&self.database_url);
        let mut set = vec![("DATABASE_URL".to_string(), database_url)];
        let host = if c.host.is_empty() {
            "localhost".to_string()
        } else {
            c.host.clone()
        };
        set.push(("PGHOST".into(), host));
        set.push(("PGPORT".into(), c.port.to_string()));
        set.push(("PGUSER".into(), c.user.clone()));
        if !c.password.is_empty() {
            set.push(("PGPASSWORD".into(), c.password.clone()));
        }
        set.push(("PGDATABASE".into(), c.database.clone()));
        if let Some((_, mode)) = c.params.iter().find(|(k, _)| k == "sslmode") {
            set.push(("PGSSLMODE".into(), mode.clone()));
        }
        let scratch: BTreeMap<String, String> = set.iter().cloned().collect();
        for (name, v) in &self.extra {
            let value = expand(v, &|var| scratch.get(var).cloned().or(Some(String::new())))
                .unwrap_or_else(|_| v.clone());
            set.push((name.clone(), value));
        }
        Ok(ChildEnv {
            url: url.to_string(),
            set,
            remove: self.remove.clone(),
        })
    }
}

/// `true`, `0`, `8000`: values that cannot be secrets and would mask ordinary words.
fn is_plain_flag(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    matches!(l.as_str(), "true" | "false" | "yes" | "no" | "on" | "off")
        || v.bytes().all(|b| b.is_ascii_digit())
}

/// Expand `${NAME}`; `Err(NAME)` for the first one `lookup` does not know.
fn expand(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = &after[..end];
        out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ChildEnv {
    /// The scratch URL for in-process connections.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `DATABASE_URL` as children see it.
    pub fn database_url(&self) -> &str {
        self.get("DATABASE_URL").unwrap_or(&self.url)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.set
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This environment with observation switched on (the L0xx checks): the Alembic wrapper
    /// sees `GATE_REPLAY_OBSERVE=1` and the catalog query to read around each statement; the
    /// in-process SQL runner asks [`ChildEnv::is_observing`].
    pub fn observing(&self) -> ChildEnv {
        let mut env = self.clone();
        env.set.push(("GATE_REPLAY_OBSERVE".into(), "1".into()));
        env.set.push((
            "GATE_REPLAY_OBSERVE_SQL".into(),
            crate::observe::SNAPSHOT_SQL.into(),
        ));
        env.set.push((
            "GATE_REPLAY_OBSERVE_SQL_LOCKED".into(),
            crate::observe::locked_only_sql().to_string(),
        ));
        env.set.push((
            "GATE_REPLAY_OBSERVE_SQL_CHECKED".into(),
            crate::observe::checked_sql().to_string(),
        ));
        env
    }

    /// Whether runs in this environment are observed ([`ChildEnv::observing`]).
    pub fn is_observing(&self) -> bool {
        self.get("GATE_REPLAY_OBSERVE") == Some("1")
    }

    /// Give `cmd` this environment: inherited database variables removed, scratch ones set.
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        for k in &self.remove {
            cmd.env_remove(k);
        }
        for (k, v) in &self.set {
            cmd.env(k, v);
        }
    }
}

/// The parts of a scratch URL, decoded.
#[derive(Debug, Clone)]
struct ConnParts {
    user: String,
    password: String,
    host: String,
    port: u16,
    database: String,
    /// Query parameters other than credentials and host (sslmode, ...), in order.
    params: Vec<(String, String)>,
}

impl ConnParts {
    fn parse(url: &str) -> Result<ConnParts, ReplayError> {
        let u = url::Url::parse(url).map_err(|source| ReplayError::ScratchUrl {
            url: gate_report::redact::redact(url),
            source,
        })?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut c = ConnParts {
            user: decode(u.username()),
            password: u.password().map(decode).unwrap_or_default(),
            host: u
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: u.port().unwrap_or(5432),
            database: decode(u.path().trim_start_matches('/')),
            params: Vec::new(),
        };
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "user" => c.user = v.into_owned(),
                "password" => c.password = v.into_owned(),
                "host" => c.host = v.into_owned(),
                "port" => c.port = v.parse().unwrap_or(c.port),
                "dbname" => c.database = v.into_owned(),
                // The tool's own loopback connections skip TLS; a child decides for itself
                // (libpq's default, prefer), so a fix that demands TLS still gets it.
                "sslmode" if v == "disable" => {}
                _ => c.params.push((k.into_owned(), v.into_owned())),
            }
        }
        Ok(c)
    }

    /// Fill `template`'s placeholders. The default template keeps the backend's parameters
    /// (e.g. `sslmode` of the url backend); a custom one is the user's to complete.
    fn render(&self, template: &str) -> String {
        let enc = |s: &str| -> String {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        let socket = self.host.starts_with('/');
        let host = if socket {
            String::new()
        } else if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut out = template
            .replace("{user}", &enc(&self.user))
            .replace("{password}", &enc(&self.password))
            .replace("{host}", &host)
            .replace("{port}", &self.port.to_string())
            .replace("{database}", &enc(&self.database));
        // No password: `user:@host` is valid, but `user@host` is what people write.
        out = out.replace(":@", "@");
        let mut params: Vec<(String, String)> = Vec::new();
        if socket {
            params.push(("host".into(), self.host.clone()));
        }
        if template == gate_policy::DEFAULT_DATABASE_URL {
            params.extend(self.params.iter().cloned());
        }
        if !params.is_empty() {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&q);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_form_is_postgresql_and_keeps_parameters() {
        let c = ConnParts::parse(
            "postgres://postgres:p%40w@127.0.0.1:5433/gate_replay_1?sslmode=require",
        )
        .unwrap();
        assert_eq!(c.password, "p@w");
        assert_eq!(
            c.render(gate_policy::DEFAULT_DATABASE_URL),
            "postgresql://postgres:p%40w@127.0.0.1:5433/gate_replay_1?sslmode=require"
        );
        assert_eq!(
            c.render("postgresql+asyncpg://{user}:{password}@{host}:{port}/{database}"),
            "postgresql+asyncpg://postgres:p%40w@127.0.0.1:5433/gate_replay_1"
        );
    }

    #[test]
    fn query_credentials_and_ipv6_hosts() {
        let c =
            ConnParts::parse("postgresql://app@[::1]:5432/db?password=x%26y&application_name=a")
                .unwrap();
        assert_eq!(c.password, "x&y");
        assert_eq!(c.host, "::1");
        assert_eq!(
            c.render(gate_policy::DEFAULT_DATABASE_URL),
            "postgresql://app:x%26y@[::1]:5432/db?application_name=a"
        );
    }

    fn policy_with_env(env: &[(&str, &str)]) -> Policy {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<String> = env.iter().map(|(k, v)| format!("{k} = \"{v}\"")).collect();
        std::fs::write(
            dir.path().join("policy.toml"),
            format!("version = 1\n[replay]\nenv = {{ {} }}\n", body.join(", ")),
        )
        .unwrap();
        gate_policy::load(&dir.path().join("policy.toml"), dir.path()).unwrap()
    }

    #[test]
    fn inherited_database_variables_never_reach_children() {
        let policy = policy_with_env(&[("APP_DB", "${DATABASE_URL}"), ("JWT", "${CI_JWT}")]);
        let vars = [
            ("PGHOST", "prod.example.com"),
            ("PGPASSWORD", "prod-secret"),
            ("DATABASE_URL", "postgresql://prod/app"),
            ("GATE_DATABASE_URL", "postgresql://ci/postgres"),
            ("SQLALCHEMY_URL", "postgresql+asyncpg://prod/app"),
            ("CI_JWT", "jwt-from-ci"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let t = EnvTemplate::with_environment(&policy, vars.into_iter()).unwrap();
        let removed: Vec<String> = t
            .remove
            .iter()
            .map(|k| k.to_string_lossy().into_owned())
            .collect();
        for k in [
            "PGHOST",
            "PGPASSWORD",
            "DATABASE_URL",
            "GATE_DATABASE_URL",
            "SQLALCHEMY_URL",
        ] {
            assert!(
                removed.contains(&k.to_string()),
                "{k} not removed: {removed:?}"
            );
        }
        assert!(!removed.contains(&"HOME".to_string()));
        let env = t
            .for_database("postgres://postgres:pw-scratch@127.0.0.1:5999/gate_replay_1")
            .unwrap();
        assert_eq!(
            env.get("DATABASE_URL"),
            Some("postgresql://postgres:pw-scratch@127.0.0.1:5999/gate_replay_1")
        );
        assert_eq!(env.get("APP_DB"), env.get("DATABASE_URL"));
        assert_eq!(env.get("PGHOST"), Some("127.0.0.1"));
        assert_eq!(env.get("PGDATABASE"), Some("gate_replay_1"));
        assert_eq!(env.get("JWT"), Some("jwt-from-ci"));
    }

    #[test]
    fn a_reference_to_a_database_variable_is_refused() {
        let policy = policy_with_env(&[("APP_DB", "${STAGING_URL}")]);
        let vars = [("STAGING_URL", "postgresql://staging/app")]
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let e = EnvTemplate::with_environment(&policy, vars.into_iter()).unwrap_err();
        assert!(e.to_string().contains("holds a PostgreSQL URL"), "{e}");
        let e = EnvTemplate::with_environment(&policy, std::iter::empty()).unwrap_err();
        assert!(e.to_string().contains("not set"), "{e}");
        assert!(
            e.to_string().contains("policy.toml:3: "),
            "names the line of replay.env: {e}"
        );
    }

    #[test]
    fn expansion_names_the_missing_variable() {
        let look = |v: &str| (v == "A").then(|| "1".to_string());
        assert_eq!(expand("x${A}y", &look).unwrap(), "x1y");
        assert_eq!(expand("${B}", &look).unwrap_err(), "B");
        assert_eq!(expand("no refs", &look).unwrap(), "no refs");
    }
}
