//! `swill-dev-cert`: writes a self-signed certificate and its private key for serving swill
//! over `wss://` in development, and says how to trust it.
//!
//! ```text
//! cargo run -p swill-dev-cert -- --out dev-cert [--host NAME]... [--days N] [--force]
//! ```
//!
//! Writes `DIR/cert.pem` (the certificate, for the server and for every client that should
//! trust it) and `DIR/key.pem` (the private key, for the server only; mode 0600 on Unix).
//! The certificate names `localhost`, `127.0.0.1` and `::1` unless `--host` is given
//! (repeatable; an IP address becomes an IP name). It is an ECDSA P-256 end-entity
//! certificate for server authentication, valid from a day ago for `--days` days (default
//! 365). Existing files are not overwritten without `--force`.
//!
//! A self-signed certificate is for development and tests only: every client has to be told
//! to trust it, and anyone with `key.pem` can impersonate the names it lists.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};

/// How long the certificate is valid by default: a year of development without renewing,
/// short enough that a leaked development key does not stay useful for long.
const DEFAULT_DAYS: u32 = 365;
/// The longest validity accepted: Apple platforms refuse TLS server certificates valid for
/// more than 825 days, even locally trusted ones.
const MAX_DAYS: u32 = 825;
/// The names written when no `--host` is given: what a local server is reached by.
const DEFAULT_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn usage() -> ExitCode {
    eprintln!(
        "usage: swill-dev-cert [--out DIR] [--host NAME]... [--days N] [--force]\n\
         \n\
         Writes DIR/cert.pem and DIR/key.pem (DIR defaults to ./dev-cert), a self-signed\n\
         certificate for the given names (default: localhost, 127.0.0.1, ::1), valid for N\n\
         days (default {DEFAULT_DAYS}, at most {MAX_DAYS}). --force overwrites existing files."
    );
    ExitCode::from(2)
}

struct Options {
    out: PathBuf,
    hosts: Vec<String>,
    days: u32,
    force: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        out: PathBuf::from("dev-cert"),
        hosts: Vec::new(),
        days: DEFAULT_DAYS,
        force: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => o.out = args.next().ok_or("--out needs a directory")?.into(),
            "--host" => match args.next() {
                Some(h) if !h.is_empty() => o.hosts.push(h),
                _ => return Err("--host needs a name".into()),
            },
            "--days" => match args.next().and_then(|d| d.parse::<u32>().ok()) {
                Some(d) if (1..=MAX_DAYS).contains(&d) => o.days = d,
                _ => return Err(format!("--days needs a number from 1 to {MAX_DAYS}")),
            },
            "--force" => o.force = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.hosts.is_empty() {
        o.hosts = DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect();
    }
    Ok(Some(o))
}

/// The certificate and key, as PEM.
fn generate(hosts: &[String], days: u32) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(hosts.to_vec())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "swill development certificate");
    name.push(DnType::OrganizationName, "swill-dev-cert");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write_new(path: &Path, text: &str, force: bool, private: bool) -> std::io::Result<()> {
    let mut open = OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = open.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn main() -> ExitCode {
    let o = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            let _ = usage();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("swill-dev-cert: {e}");
            return usage();
        }
    };
    let (cert, key) = match generate(&o.hosts, o.days) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("swill-dev-cert: cannot make the certificate: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = fs::create_dir_all(&o.out) {
        eprintln!("swill-dev-cert: cannot create {}: {e}", o.out.display());
        return ExitCode::FAILURE;
    }
    let cert_path = o.out.join("cert.pem");
    let key_path = o.out.join("key.pem");
    if !o.force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                eprintln!(
                    "swill-dev-cert: {} exists; pass --force to replace it",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    for (path, text, private) in [(&key_path, &key, true), (&cert_path, &cert, false)] {
        if let Err(e) = write_new(path, text, o.force, private) {
            eprintln!("swill-dev-cert: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    print_help(&cert_path, &key_path, &o);
    ExitCode::SUCCESS
}

fn print_help(cert: &Path, key: &Path, o: &Options) {
    let (c, k) = (cert.display(), key.display());
    let host = o.hosts.first().map_or("localhost", String::as_str);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    println!(
        "wrote {c} (certificate for {names}, valid {days} days)\n\
         wrote {k} (private key: keep it private, never commit it)\n\
         \n\
         Serve wss:// with it:\n\
         \x20 Rust:     swill::serve(listener, app).tls(swill::server::TlsConfig::from_pem_files(\"{c}\", \"{k}\")?)\n\
         \x20 examples: cargo run -p hello -- --tls-cert {c} --tls-key {k}\n\
         \n\
         Trust it in clients (it is self-signed: nothing trusts it by default):\n\
         \x20 Rust client: Client::builder(\"wss://{host}:8443/ws\").tls_root_pem(std::fs::read(\"{c}\")?)\n\
         \x20 Node:        NODE_EXTRA_CA_CERTS={c} node app.js   (or ws's `ca` option)\n\
         \x20 Chrome/Edge on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t P,, -n swill-dev -i {c}\n\
         \x20 Firefox:     Settings > Privacy & Security > Certificates > View Certificates > Servers > Import\n\
         \x20 macOS:       security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {c}\n\
         \x20 Windows:     certutil -user -addstore Root {c}\n\
         \x20 Or open https://{host}:PORT/docs once and accept the browser's warning (that browser only).",
        names = o.hosts.join(", "),
        days = o.days,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn arguments_parse_with_defaults_and_limits() {
        let o = parse(args(&[])).unwrap().unwrap();
        assert_eq!(o.out, PathBuf::from("dev-cert"));
        assert_eq!(o.hosts, DEFAULT_HOSTS);
        assert_eq!(o.days, DEFAULT_DAYS);
        let o = parse(args(&[
            "--host", "a.test", "--host", "10.0.0.1", "--out", "x",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.hosts, ["a.test", "10.0.0.1"]);
        assert_eq!(o.out, PathBuf::from("x"));
        assert!(parse(args(&["--days", "0"])).is_err());
        assert!(parse(args(&["--days", "826"])).is_err());
        assert!(parse(args(&["--host"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn the_certificate_and_key_are_pem() {
        let (cert, key) = generate(&["localhost".into(), "::1".into()], 30).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
