//! TLS to PostgreSQL as libpq does it, against a real server that refuses
//! clients without TLS on TCP: `sslmode` from `disable` to `verify-full`,
//! `sslrootcert`, in both forms of connection string. The certificates are
//! made per run: a CA, a server certificate it signs for `localhost` only,
//! and a second CA that signed nothing.

use std::path::Path;

use weir_tests::certificates::Authority;
use weir_tests::postgres::{readings_into, Postgres};
use weir_tests::{text, weir};

struct Certificates {
    ca: String,
    other_ca: String,
    server: String,
    server_key: String,
}

fn certificates() -> Certificates {
    let ca = Authority::new("weir test CA");
    let (server, server_key) = ca.sign(&["localhost"]);
    Certificates {
        ca: ca.pem(),
        other_ca: Authority::new("another CA").pem(),
        server,
        server_key,
    }
}

/// Runs readings into `table` over `url`: Ok(rows in the table) or
/// Err(what weir said).
fn run_into(dir: &Path, server: &Postgres, url: &str, table: &str) -> Result<i64, String> {
    let input = dir.join("in.ndjson");
    let readings: String = (0..5)
        .map(|i| format!("{{\"sensor_id\":\"s{i}\",\"temperature\":101.5,\"event_time\":{i}}}\n"))
        .collect();
    std::fs::write(&input, readings).unwrap();
    let pipeline = dir.join(format!("{table}.toml"));
    std::fs::write(&pipeline, readings_into(&input, url, table)).unwrap();
    let out = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&out.stderr);
    if !out.status.success() {
        return Err(stderr);
    }
    let count: i64 = server
        .local_client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    Ok(count)
}

#[test]
fn sslmodes_encrypt_and_verify_as_libpq_does() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certificates();
    let server = Postgres::start_tls(&certs.server, &certs.server_key);
    let (ca, other_ca) = (dir.path().join("ca.pem"), dir.path().join("other-ca.pem"));
    std::fs::write(&ca, &certs.ca).unwrap();
    std::fs::write(&other_ca, &certs.other_ca).unwrap();
    let port = server.port;
    let at = |host: &str, more: &str| {
        format!("host={host} port={port} user=postgres dbname=postgres {more}")
    };
    let (ca, other_ca) = (ca.display(), other_ca.display());

    // Without TLS the server refuses: every success below was encrypted.
    let refused = run_into(
        dir.path(),
        &server,
        &at("127.0.0.1", "sslmode=disable"),
        "plain",
    )
    .expect_err("the server takes TCP clients with TLS only");
    assert!(
        refused.contains("cannot connect to PostgreSQL"),
        "{refused}"
    );
    assert!(refused.contains("no encryption"), "{refused}");

    // Encrypted, the certificate not checked (libpq's require and prefer).
    for (table, more) in [("required", "sslmode=require"), ("preferred", "")] {
        assert_eq!(
            run_into(dir.path(), &server, &at("127.0.0.1", more), table),
            Ok(5),
            "{more}"
        );
    }

    // verify-ca checks the chain only; verify-full also the name.
    let verify_ca = format!("sslmode=verify-ca sslrootcert={ca}");
    assert_eq!(
        run_into(dir.path(), &server, &at("127.0.0.1", &verify_ca), "chain"),
        Ok(5)
    );
    let full = format!("sslmode=verify-full sslrootcert={ca}");
    let wrong_name = run_into(dir.path(), &server, &at("127.0.0.1", &full), "by_ip")
        .expect_err("the certificate is for localhost, not 127.0.0.1");
    assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
    let url = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
    );
    assert_eq!(run_into(dir.path(), &server, &url, "by_name"), Ok(5));

    // A lookup table, its JDBC URL carrying pgjdbc's TLS parameters.
    server
        .local_client()
        .batch_execute("CREATE TABLE sites (sensor_id text, building text); INSERT INTO sites VALUES ('s1', 'B7');")
        .unwrap();
    let located = |root: &dyn std::fmt::Display| {
        let script = dir.path().join("located.sql");
        std::fs::write(
            &script,
            format!(
            r#"CREATE TABLE readings (sensor_id STRING, temperature DOUBLE, event_time TIMESTAMP(3),
  proc_time AS PROCTIME(), WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND)
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
CREATE TABLE sites (sensor_id STRING, building STRING)
WITH ('connector' = 'jdbc', 'table-name' = 'sites', 'username' = 'postgres',
      'url' = 'jdbc:postgresql://localhost:{port}/postgres?sslmode=verify-full&sslrootcert={root}');
SELECT r.sensor_id, s.building FROM readings AS r
JOIN sites FOR SYSTEM_TIME AS OF r.proc_time AS s ON r.sensor_id = s.sensor_id"#,
                dir.path().join("in.ndjson").display()
            ),
        )
        .unwrap();
        weir(&["run", script.to_str().unwrap()], b"")
    };
    let joined = located(&ca);
    assert!(joined.status.success(), "{}", text(&joined.stderr));
    assert_eq!(text(&joined.stdout).matches("building=B7").count(), 1);
    let refused = located(&other_ca);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("UnknownIssuer"),
        "{}",
        text(&refused.stderr)
    );

    // Signed by a CA not among the roots; roots that are not there.
    let stranger = format!("sslmode=verify-ca sslrootcert={other_ca}");
    let unknown = run_into(dir.path(), &server, &at("localhost", &stranger), "stranger")
        .expect_err("the server's CA is not the root given");
    assert!(unknown.contains("UnknownIssuer"), "{unknown}");
    let missing = "sslmode=verify-full sslrootcert=/nonexistent/ca.pem";
    let unreadable = run_into(dir.path(), &server, &at("localhost", missing), "missing")
        .expect_err("no roots to verify with");
    assert!(
        unreadable.contains("sslrootcert /nonexistent/ca.pem"),
        "{unreadable}"
    );
}

/// A server that logs TCP clients in by certificate (`hostssl … cert`,
/// the certificate's CN the user name), as managed PostgreSQL services
/// offer: weir presents `sslcert` and `sslkey`; without them, or with a
/// certificate from another CA, the server refuses.
#[test]
fn a_server_that_asks_for_a_client_certificate_gets_sslcert_and_sslkey() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certificates();
    let clients = Authority::new("weir test client CA");
    let server = Postgres::start_tls_asking_for(&certs.server, &certs.server_key, &clients.pem());
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let ca = write("ca.pem", &certs.ca);
    let (cert, key) = clients.sign_client("postgres");
    let (cert, key) = (write("client.pem", &cert), write("client.key", &key));
    let (other_cert, other_key) = Authority::new("another CA").sign_client("postgres");
    let (other_cert, other_key) = (
        write("other.pem", &other_cert),
        write("other.key", &other_key),
    );
    let port = server.port;
    let url = |more: &str| {
        format!(
            "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}{more}"
        )
    };

    let without = run_into(dir.path(), &server, &url(""), "anonymous")
        .expect_err("the server asks for a certificate");
    assert!(
        without.contains("connection requires a valid client certificate"),
        "{without}"
    );
    let stranger = format!("&sslcert={other_cert}&sslkey={other_key}");
    let refused = run_into(dir.path(), &server, &url(&stranger), "stranger")
        .expect_err("signed by a CA the server does not know");
    assert!(refused.contains("UnknownCA"), "{refused}");

    let mine = format!("&sslcert={cert}&sslkey={key}");
    assert_eq!(run_into(dir.path(), &server, &url(&mine), "by_cert"), Ok(5));
    // The key-value form, as libpq writes it.
    let pairs = format!(
        "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert={ca} sslcert={cert} sslkey={key}"
    );
    assert_eq!(run_into(dir.path(), &server, &pairs, "by_pairs"), Ok(5));
}
