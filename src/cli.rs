//! The `organizeo` command line: `serve` (the default), `migrate`, `audit verify` and `staff`.
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
