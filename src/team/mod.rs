//! The team database: PostgreSQL, where a second engineer's approval and
//! the team's audit live. Identity is the role each engineer connects as
//! (`session_user`), checked by the database, never a typed name. The
//! schema is versioned: `migrations/NNN_name.sql`, applied in order, once,
//! by `stepguard team init`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub mod approval;
pub mod notify;
pub mod ship;
pub mod stats;

/// What the walk needs to reach the team.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub database_url: String,
    pub tls: Tls,
    /// A request's time limit.
    pub approval_seconds: u32,
    /// Where each new request is posted (Slack incoming-webhook shape).
    pub webhook_url: Option<String>,
}

/// TLS to the team database. With `sslmode=disable` in the URL the
/// connection is plain; otherwise TLS is used whenever the server offers it
/// (`prefer`, the default) or always (`require`), and the server's
/// certificate is always verified: against the system's roots and
/// `ca_file`. A client certificate is presented when both files are given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// The schema's versions, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "approvals",
        include_str!("../../migrations/001_approvals.sql"),
    ),
    (
        2,
        "team_audit",
        include_str!("../../migrations/002_team_audit.sql"),
    ),
    (3, "walk", include_str!("../../migrations/003_walk.sql")),
];

/// The schema version this stepguard writes and reads.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(
        "no team database: set team.database_url in the config file, or STEPGUARD_DATABASE_URL"
    )]
    NotConfigured,
    #[error("cannot connect to the team database: {0}")]
    Connect(String),
    #[error("the team database: {0}")]
    Db(String),
    #[error("the team database is at schema version {found}, newer than this stepguard knows ({known}): upgrade stepguard")]
    Newer { found: i32, known: i32 },
}

fn connect_error(e: tokio_postgres::Error) -> TeamError {
    // The cause says what failed (an unknown issuer, a refused password).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if text.contains("TLS") || text.contains("certificate") {
        text.push_str(
            " (the server's certificate is verified: set team.ca_file to the CA that signed it, or sslmode=disable in the URL for an unencrypted connection)",
        );
    }
    TeamError::Connect(crate::sanitize::sanitize_line(&text, 600).into_owned())
}

fn db(e: tokio_postgres::Error) -> TeamError {
    // The server's own message (a trigger's refusal reads as written).
    let message = match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    };
    // The server's text may quote what a client inserted: never raw.
    TeamError::Db(crate::sanitize::sanitize_line(&message, 300).into_owned())
}

/// Connect; the connection is driven on the runtime until the client drops.
pub async fn connect(team: &Settings) -> Result<Client, TeamError> {
    connect_with(team, None).await
}

/// Connect, and send each notification's payload to `notes` (LISTEN).
pub(crate) async fn connect_with(
    team: &Settings,
    notes: Option<UnboundedSender<String>>,
) -> Result<Client, TeamError> {
    let mut config: tokio_postgres::Config = team.database_url.parse().map_err(connect_error)?;
    let client = if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
        drive(connection, notes);
        client
    } else {
        // `prefer` would fall back to plain text when told the server has
        // no TLS, which anyone on the path can tell it: TLS is required
        // unless the URL says `sslmode=disable`. A password is bound to
        // this TLS session (channel binding), so it cannot be relayed.
        config.ssl_mode(SslMode::Require);
        if config.get_password().is_some() {
            config.channel_binding(tokio_postgres::config::ChannelBinding::Require);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&team.tls)?);
        let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
        drive(connection, notes);
        client
    };
    // A statement never waits long on another session's open transaction
    // (the server cancels it, so an interrupted approval never lands late).
    client
        .batch_execute("SET statement_timeout = '20s'; SET lock_timeout = '10s'")
        .await
        .map_err(db)?;
    Ok(client)
}

/// Whether connections to the team database are encrypted, as this side
/// made them (the server's view can be a proxy's).
pub fn encrypted(team: &Settings) -> bool {
    team.database_url
        .parse::<tokio_postgres::Config>()
        .is_ok_and(|c| c.get_ssl_mode() != SslMode::Disable)
}

/// Run the connection on the runtime until the client drops, handing on
/// notifications.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notes: Option<UnboundedSender<String>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use futures::StreamExt;
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match (message, &notes) {
                (Ok(AsyncMessage::Notification(n)), Some(tx)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                (Ok(_), _) => {}
                (Err(_), _) => break,
            }
        }
    });
}

/// rustls with the system's roots, `ca_file`, and a client certificate.
fn tls_config(tls: &Tls) -> Result<rustls::ClientConfig, TeamError> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| TeamError::Connect(format!("TLS: {what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = &tls.ca_file {
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad(&ca.display().to_string(), &e))?;
        if certs.is_empty() {
            return Err(bad(&ca.display().to_string(), &"no certificate in it"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(&ca.display().to_string(), &e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", &e))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| bad(&cert.display().to_string(), &e))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| bad(&key.display().to_string(), &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad("the client certificate", &e))
        }
        _ => Err(TeamError::Connect(
            "TLS: team.client_cert and team.client_key go together".into(),
        )),
    }
}

const VERSIONS: &str = "CREATE TABLE IF NOT EXISTS stepguard_schema (\
    version integer PRIMARY KEY, \
    name text NOT NULL, \
    applied_at timestamptz NOT NULL DEFAULT now(), \
    applied_by name NOT NULL DEFAULT session_user)";

/// The version the database is at (0: none applied).
async fn version(client: &impl tokio_postgres::GenericClient) -> Result<i32, TeamError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('stepguard_schema') IS NOT NULL", &[])
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM stepguard_schema",
            &[],
        )
        .await
        .map_err(db)?;
    Ok(row.get(0))
}

/// Apply the migrations the database lacks, in one transaction, under an
/// advisory lock (two engineers running `team init` at once apply each
/// once). Returns (the version before, the versions applied).
pub async fn init(client: &mut Client) -> Result<(i32, Vec<i32>), TeamError> {
    let tx = client.transaction().await.map_err(db)?;
    // The lock's key: the first 8 bytes of "stepguard", as a bigint.
    tx.execute("SELECT pg_advisory_xact_lock(8319385945106637170)", &[])
        .await
        .map_err(db)?;
    tx.batch_execute(VERSIONS).await.map_err(db)?;
    // Every engineer's `team status` reads the version.
    tx.batch_execute("GRANT SELECT ON stepguard_schema TO PUBLIC")
        .await
        .map_err(db)?;
    let before = version(&tx).await?;
    if before > latest() {
        return Err(TeamError::Newer {
            found: before,
            known: latest(),
        });
    }
    let mut applied = Vec::new();
    for (v, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > before) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| TeamError::Db(format!("migration {v:03}_{name}: {}", db(e))))?;
        tx.execute(
            "INSERT INTO stepguard_schema (version, name) VALUES ($1, $2)",
            &[v, name],
        )
        .await
        .map_err(db)?;
        applied.push(*v);
    }
    tx.commit().await.map_err(db)?;
    Ok((before, applied))
}

/// What `team status` says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// The role this connection is: who you are to the team.
    pub role: String,
    pub database: String,
    pub server_version: String,
    pub schema_version: i32,
    pub latest: i32,
    /// The connection is encrypted (verified TLS), as this side made it.
    pub tls: bool,
}

pub async fn status(client: &Client, team: &Settings) -> Result<Status, TeamError> {
    let row = client
        .query_one(
            "SELECT session_user::text, current_database()::text, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(db)?;
    Ok(Status {
        role: row.get(0),
        database: row.get(1),
        server_version: row.get(2),
        schema_version: version(client).await?,
        latest: latest(),
        tls: encrypted(team),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (v, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i32 + 1, "{name}");
            assert!(!sql.trim().is_empty(), "{name}");
        }
        // The lock key is the first 8 bytes of "stepguard", as the comment says.
        let key = b"stepguar".iter().fold(0i64, |k, b| (k << 8) | *b as i64);
        assert_eq!(key, 8319385945106637170);
    }
}
