//! A Postgres database of its own per test, on `DATABASE_URL`'s server.

use sqlx::{Connection as _, PgConnection, PgPool};

/// A fresh, empty database; dropped (best effort) when this is dropped.
pub struct TestDb {
    pub name: String,
    /// Connection string of this database, for the control plane.
    pub url: String,
    server_url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let server_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "DATABASE_URL is not set: the end-to-end tests need a Postgres server \
                 (eval \"$(scripts/ensure-postgres.sh)\")"
            )
        });
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL: {e}"));
        // Identifiers cannot be bound; the name is ours (a UUID), never input.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
        let url = with_database(&server_url, &name);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect to the test database");
        TestDb {
            name,
            url,
            server_url,
            pool,
        }
    }

    /// Every row of every table of the public schema as JSON text, one row per line,
    /// prefixed with its table: for "never stored" assertions.
    pub async fn dump(&self) -> String {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT t.table_name::text,
                    query_to_xml(format('SELECT row_to_json(r)::text AS j FROM %I r', t.table_name),
                                 false, false, '')::text
             FROM information_schema.tables t
             WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .expect("dump the database");
        let tables: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        for expected in ["history", "api_keys", "usage_records", "audit_receipts"] {
            assert!(tables.contains(&expected), "no {expected} in {tables:?}");
        }
        rows.iter()
            .map(|(table, xml)| format!("== {table}\n{}", xml.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("E2E_KEEP_FAILED_DB").is_some() {
            eprintln!("test database of the failed test kept: {}", self.url);
            return;
        }
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
