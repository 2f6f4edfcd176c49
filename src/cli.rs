//! The `organizeo` command line: `serve` (the default), `migrate`, `audit verify`, `staff`
//! and `backup`.
//! Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{Settings, SETTINGS};
use crate::startup::{Application, StartError};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "organizeo",
    version,
    about = "Organizeo: multi-tenant CRM, messaging and live dashboards in one binary"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./organizeo.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default when no command is given).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Platform staff (support, engineers, security, release managers).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Encryption keys of data at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Backups of the configured database (files in ORGANIZEO_BACKUP_DIR).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every sealed value under the active key (ORGANIZEO_ENCRYPTION_KEY), in
    /// batches; resumable. Afterwards older keys can be dropped from
    /// ORGANIZEO_ENCRYPTION_OLD_KEYS.
    Rotate {
        /// Values per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Which keys sealed values use, per table (an old key still listed cannot be dropped).
    Status,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now (prints the file's path), then keep only the newest
    /// ORGANIZEO_BACKUP_KEEP.
    Create,
    /// The backups in ORGANIZEO_BACKUP_DIR, oldest first.
    List,
    /// Check a backup (default: the newest): its SHA-256 and size against the manifest, a
    /// restore into a scratch database, the integrity check and every table's row count.
    /// Exit 0 when sound, 1 naming the problem.
    Verify { file: Option<PathBuf> },
    /// Restore a backup into the configured database (stop the server first). Refuses a
    /// database that holds data unless --force.
    Restore {
        file: PathBuf,
        /// Replace a database that holds data.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; the password is read from standard input (one line), and must
    /// meet the same policy as portal users'. TOTP enrolment happens at the first sign-in.
    Add {
        email: String,
        /// support, engineer, security or release_manager
        #[arg(long)]
        role: String,
    },
    /// List staff members: email, role, status, whether TOTP is enrolled.
    List,
    /// Disable a staff member: their sessions and grants end at once.
    Disable { email: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every portal's hash chain; report the first broken link (exit 1 if any).
    Verify,
}

fn configuration_help() -> String {
    let mut out = String::from(
        "Configuration: built-in defaults, then the TOML file (--config, or ./organizeo.toml),\n\
         then environment variables. Each setting, its file key and its default:\n\n",
    );
    for s in SETTINGS {
        out.push_str(&format!("  {}  (file: {}, default: {})\n      {}\n", s.env, s.key, s.default, s.meaning.trim()));
    }
    out.push_str("\nA bad value stops start-up with a message naming the setting and exit code 2.");
    out
}

pub fn main() -> ExitCode {
    let matches = Cli::command().after_long_help(configuration_help()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let settings = match Settings::from_env(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("organizeo: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => match crate::db::migrate(&settings.database_url) {
            Ok(applied) if applied.is_empty() => {
                println!("database {} is up to date; no pending migrations", settings.database_url);
                ExitCode::SUCCESS
            }
            Ok(applied) => {
                for v in &applied {
                    println!("applied {v}");
                }
                println!("database {} migrated ({} applied)", settings.database_url, applied.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("organizeo: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Serve => serve(settings),
        Command::Audit { command: AuditCommand::Verify } => audit_verify(&settings),
        Command::Staff { command } => staff(&settings, command),
        Command::Backup { command } => backup(&settings, command),
        Command::Keys { command } => keys(&settings, command),
    }
}

fn keys(settings: &Settings, command: KeysCommand) -> ExitCode {
    let keyring = match backup_keyring(settings) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let active_setting =
        if settings.encryption_key.is_some() { "ORGANIZEO_ENCRYPTION_KEY" } else { "ORGANIZEO_ENCRYPTION_KEY_FILE" };
    if let Err(e) = crate::db::migrate(&settings.database_url) {
        eprintln!("organizeo: {e:#}");
        return ExitCode::from(1);
    }
    // Every key in use must open before anything is rewritten.
    if let Err(e) = crate::keys::check(&settings.database_url, &keyring, active_setting) {
        eprintln!("organizeo: configuration error: {e}");
        return ExitCode::from(2);
    }
    match command {
        KeysCommand::Status => match crate::db::sealed::key_use(&settings.database_url) {
            Ok(uses) => {
                println!("active key: {}", keyring.active_id());
                for column in crate::db::sealed::SealedColumn::ALL {
                    let here: Vec<String> = uses
                        .iter()
                        .filter(|u| u.column == column)
                        .map(|u| format!("{} under {}", u.count, u.key_id))
                        .collect();
                    let shown = if here.is_empty() { "none".to_string() } else { here.join(", ") };
                    println!("{}.{}: {shown}", column.table(), column.column());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("organizeo: {e:#}");
                ExitCode::from(1)
            }
        },
        KeysCommand::Rotate { batch } => {
            let system = actix_web::rt::System::new();
            let started = std::time::Instant::now();
            let outcome = system.block_on(async {
                let db = crate::db::Db::for_tool(&settings.database_url)?;
                let reports = crate::keys::rotate(&db, &keyring, batch as usize, None, |r| {
                    eprintln!("{}.{}: {} re-sealed so far", r.table, r.column, r.resealed)
                })
                .await
                .map_err(|e| match e {
                    crate::error::AppError::Internal(cause) => cause,
                    other => anyhow::anyhow!("{}", other.to_problem().detail),
                });
                drop(db);
                reports
            });
            match outcome {
                Ok(reports) => {
                    let total: u64 = reports.iter().map(|r| r.resealed).sum();
                    for r in &reports {
                        println!(
                            "{}.{}: {} re-sealed under {}{}",
                            r.table,
                            r.column,
                            r.resealed,
                            keyring.active_id(),
                            if r.changed > 0 {
                                format!(" ({} changed meanwhile, left as written)", r.changed)
                            } else {
                                String::new()
                            }
                        );
                    }
                    println!(
                        "{total} values re-sealed in {:.1} s; every sealed value is now under {}: older keys can be removed from ORGANIZEO_ENCRYPTION_OLD_KEYS",
                        started.elapsed().as_secs_f64(),
                        keyring.active_id()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "organizeo: key rotation stopped: {e:#} (values re-sealed so far stay; run it again to resume)"
                    );
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The keyring a backup command needs: sealing (create) or opening (verify, restore).
fn backup_keyring(settings: &Settings) -> Result<crate::security::crypto::Keyring, ExitCode> {
    crate::startup::keyring(settings).map_err(|e| match e {
        StartError::Config(e) => {
            eprintln!("organizeo: configuration error: {e}");
            ExitCode::from(2)
        }
        StartError::Other(e) => {
            eprintln!("organizeo: {e:#}");
            ExitCode::from(1)
        }
    })
}

fn backup(settings: &Settings, command: BackupCommand) -> ExitCode {
    use crate::backup;
    let keyring = match backup_keyring(settings) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let failed = |e: anyhow::Error| {
        eprintln!("organizeo: {e:#}");
        ExitCode::from(1)
    };
    match command {
        BackupCommand::Create => {
            let options = backup::Options {
                dir: settings.backup_dir.clone(),
                keep: settings.backup_keep,
                seal: settings.backup_encrypt.then(|| keyring.clone()),
            };
            let now = chrono::Utc::now();
            let created = match backup::create(&settings.database_url, &options, now) {
                Ok(c) => c,
                Err(e) => return failed(e),
            };
            record_success(settings, &created);
            for old in &created.pruned {
                eprintln!("deleted old backup {}", old.display());
            }
            println!("{}", created.path.display());
            ExitCode::SUCCESS
        }
        BackupCommand::List => match backup::list(&settings.backup_dir) {
            Ok(found) => {
                println!(
                    "{:<58} {:<20} {:>12} {:>10} {:<6} schema",
                    "file", "created (UTC)", "bytes", "rows", "sealed"
                );
                for l in found {
                    let name = l.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    match l.manifest {
                        Ok(m) => println!(
                            "{name:<58} {:<20} {:>12} {:>10} {:<6} {}",
                            m.created_at.format("%Y-%m-%d %H:%M:%S"),
                            m.bytes,
                            m.total_rows(),
                            m.key_id.as_deref().unwrap_or("no"),
                            m.schema_version
                        ),
                        Err(e) => println!("{name:<58} manifest problem: {e}"),
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(e),
        },
        BackupCommand::Verify { file } => {
            let path = match file.map_or_else(|| backup::newest(&settings.backup_dir), Ok) {
                Ok(p) => p,
                Err(e) => return failed(e),
            };
            let started = std::time::Instant::now();
            match backup::verify(&path, &settings.database_url, Some(&keyring)) {
                Ok(v) => {
                    println!(
                        "backup {} verified: SHA-256 and size match, restored into a scratch database, {} rows in {} tables match the manifest{} ({:.1} s)",
                        path.display(),
                        v.rows,
                        v.manifest.tables.len(),
                        if v.manifest.backend == "sqlite" { ", integrity check ok" } else { "" },
                        started.elapsed().as_secs_f64()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("backup {} FAILED verification: {e:#}", path.display());
                    ExitCode::from(1)
                }
            }
        }
        BackupCommand::Restore { file, force } => {
            match backup::restore(&file, &settings.database_url, force, Some(&keyring)) {
                Ok(m) => {
                    println!(
                        "restored {} ({} rows, taken {}) into {}; migrated to this version",
                        file.display(),
                        m.total_rows(),
                        m.created_at.to_rfc3339(),
                        settings.database_url
                    );
                    ExitCode::SUCCESS
                }
                Err(backup::RestoreError::NotEmpty(target)) => {
                    eprintln!(
                        "organizeo: the database {target} already holds data; nothing was changed (use --force to replace it)"
                    );
                    ExitCode::from(1)
                }
                Err(backup::RestoreError::Failed(e)) => failed(e),
            }
        }
    }
}

/// Tells the schedule row about a backup taken by hand, so every node's
/// `organizeo_backup_last_success_timestamp_seconds` sees it. Best effort: a database
/// not yet migrated has no schedule row.
fn record_success(settings: &Settings, created: &crate::backup::Created) {
    let system = actix_web::rt::System::new();
    let (file, bytes, at) =
        (created.manifest.file.clone(), created.manifest.bytes as i64, created.manifest.created_at.naive_utc());
    let outcome: anyhow::Result<()> = system.block_on(async move {
        let db = crate::db::Db::for_tool(&settings.database_url)?;
        db.write(move |tx| Ok(tx.platform().record_backup_success(at, &file, bytes)?))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))?;
        drop(db);
        Ok(())
    });
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "the backup was not recorded in the schedule row");
    }
}

fn staff(settings: &Settings, command: StaffCommand) -> ExitCode {
    let system = actix_web::rt::System::new();
    let outcome: anyhow::Result<()> = system.block_on(async move {
        crate::db::migrate(&settings.database_url)?;
        let db = crate::db::Db::for_tool(&settings.database_url)?;
        let now = chrono::Utc::now();
        let problem = |e: crate::error::AppError| {
            let p = e.to_problem();
            let fields: Vec<String> = p.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            if fields.is_empty() {
                anyhow::anyhow!("{}", p.detail)
            } else {
                anyhow::anyhow!("{} ({})", p.detail, fields.join("; "))
            }
        };
        match command {
            StaffCommand::Add { email, role } => {
                let mut password = String::new();
                std::io::stdin().read_line(&mut password)?;
                let password = password.trim_end_matches(['\r', '\n']);
                let row = crate::identity::staff::add(&db, &email, &role, password, now).await.map_err(problem)?;
                println!(
                    "staff member {} added ({}, id {}); TOTP enrolment at first sign-in",
                    row.email, row.role, row.id
                );
            }
            StaffCommand::List => {
                let rows = crate::identity::staff::list(&db).await.map_err(problem)?;
                println!("{:<40} {:<16} {:<9} totp", "email", "role", "status");
                for r in rows {
                    let totp = if r.totp_enabled_at.is_some() { "enrolled" } else { "pending" };
                    println!("{:<40} {:<16} {:<9} {totp}", r.email, r.role, r.status);
                }
            }
            StaffCommand::Disable { email } => {
                crate::identity::staff::disable(&db, &email, now).await.map_err(problem)?;
                println!("staff member {email} disabled; their sessions have ended");
            }
        }
        drop(db);
        Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("organizeo: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn audit_verify(settings: &Settings) -> ExitCode {
    let outcome = crate::db::system::verify_audit(&settings.database_url);
    match outcome {
        Ok(report) => match report.first_break {
            None => {
                println!(
                    "audit log verified: {} entries in {} portals and the platform chain, every chain intact",
                    report.entries, report.portals
                );
                ExitCode::SUCCESS
            }
            Some(b) => {
                println!(
                    "audit log BROKEN: {} entry {}: {} ({} entries in {} portals and the platform chain checked)",
                    if b.tenant_id == crate::db::staff::PLATFORM_CHAIN {
                        "the platform chain".to_string()
                    } else {
                        format!("portal {}", b.tenant_id)
                    },
                    b.seq,
                    b.reason,
                    report.entries,
                    report.portals
                );
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("organizeo: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    let system = actix_web::rt::System::new();
    let outcome = system.block_on(async move {
        let app = Application::build(settings, Clock::system())?;
        app.run_until_stopped().await.map_err(|e| StartError::Other(e.into()))
    });
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(StartError::Config(e)) => {
            eprintln!("organizeo: configuration error: {e}");
            ExitCode::from(2)
        }
        Err(StartError::Other(e)) => {
            eprintln!("organizeo: {e:#}");
            ExitCode::from(1)
        }
    }
}
