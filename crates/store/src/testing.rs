//! Fixtures for the test suites of this workspace: a fresh database per test, on SQLite, or
//! on PostgreSQL when [`DATABASE_URL_VAR`] names a server.
//!
//! A PostgreSQL database is created with a unique name on the server the variable names
//! (`postgres://user@host:port/db`, the database being the one to connect to in order to
//! create and drop others) and dropped, with whatever connections are still open on it,
//! when the fixture is dropped. A SQLite database is a file in a fresh temporary directory,
//! removed with it.

use std::path::PathBuf;

use crate::Backend;

/// The variable that points the test suites at a PostgreSQL server.
pub const DATABASE_URL_VAR: &str = "WARDEN_TEST_DATABASE_URL";

/// The PostgreSQL server the environment names for tests, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A database that exists for as long as this value.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(PathBuf),
    Postgres { server: String, name: String },
}

impl TestDatabase {
    /// A fresh database on PostgreSQL when [`DATABASE_URL_VAR`] is set, on SQLite otherwise.
    pub async fn new() -> Result<Self, sqlx::Error> {
        match postgres_server() {
            Some(server) => Self::postgres(&server).await,
            None => Self::sqlite(),
        }
    }

    /// A fresh SQLite file in a directory of its own under `parent` (the system's temporary
    /// directory when `None`).
    pub fn sqlite_in(parent: Option<&std::path::Path>) -> Result<Self, sqlx::Error> {
        let parent = parent.map_or_else(std::env::temp_dir, |p| p.to_path_buf());
        let dir = parent.join(format!("warden-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).map_err(sqlx::Error::Io)?;
        Ok(TestDatabase {
            url: format!("sqlite://{}", dir.join("warden.db").display()),
            cleanup: Cleanup::Dir(dir),
        })
    }

    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> Result<Self, sqlx::Error> {
        Self::sqlite_in(None)
    }

    /// A fresh, uniquely named database on the PostgreSQL server at `server`.
    pub async fn postgres(server: &str) -> Result<Self, sqlx::Error> {
        use sqlx::{Connection, Executor};
        let name = format!("warden_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(server).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        // A test's writes need not survive a crash of the machine: commits do not wait
        // for the disk, which is most of what a write costs on a small server.
        conn.execute(format!("ALTER DATABASE {name} SET synchronous_commit = off").as_str())
            .await?;
        conn.close().await?;
        Ok(TestDatabase {
            url: with_database(server, &name),
            cleanup: Cleanup::Postgres {
                server: server.to_owned(),
                name,
            },
        })
    }

    /// The database's URL, for [`crate::Store::open`] and the server's configuration.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's backend.
    pub fn backend(&self) -> Backend {
        Backend::of_url(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server, name } => {
                // Drop may run inside an async test: the database is dropped from a thread
                // of its own, with a runtime of its own, and waited for.
                let (server, name) = (server.clone(), name.clone());
                let dropped = std::thread::spawn(move || drop_postgres(&server, &name)).join();
                if let Ok(Err(e)) = dropped {
                    eprintln!("could not drop a test database: {e}");
                }
            }
        }
    }
}

fn drop_postgres(server: &str, name: &str) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(sqlx::Error::Io)?;
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(server).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
        conn.close().await?;
        Ok(())
    })
}

/// `url` with its database (the path) replaced by `name`, its parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, Some(p)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match params {
        Some(p) => format!("{base}/{name}?{p}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t"),
            "postgres://u@h:5432/t"
        );
        assert_eq!(with_database("postgres://u@h", "t"), "postgres://u@h/t");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t"),
            "postgres://u:p@h/t?sslmode=disable"
        );
    }
}
