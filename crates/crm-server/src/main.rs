//! `crm-server`: serve the API, migrate, create tenants, mint tokens, print the OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use crm_domain::TenantId;
use crm_domain::tenant::NewTenant;
use crm_server::{Application, Config, connect, hs256_accepted, jwt_secret, migrate, services};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "crm-server",
    version,
    about = "Multi-tenant customer management service"
)]
struct Cli {
    /// TOML configuration file (keys as the CRM_* variables, lower-case, without the prefix).
    #[arg(long, global = true, env = "CRM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Print a bearer token for a user of a tenant.
    Token {
        /// Tenant id.
        #[arg(long)]
        tenant: Uuid,
        /// Role: admin, manager, sales or viewer (repeatable).
        #[arg(long, required = true)]
        role: Vec<String>,
        /// User id (the token's `sub`).
        #[arg(long, default_value = "cli")]
        sub: String,
        /// Lifetime, e.g. `24h`, `30m`, `7days`.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Import customers or orders from a CSV or XLSX file, as `POST /api/v1/imports` does, with
    /// a progress bar and a summary.
    Import {
        /// `customers` or `orders`.
        #[arg(value_parser = ["customers", "orders"])]
        kind: String,
        /// The file.
        file: PathBuf,
        /// Tenant id.
        #[arg(long)]
        tenant: Uuid,
        /// Options as JSON (`{"duplicate_policy": "update", "match_by": "phone", ...}`; `kind`
        /// comes from the command).
        #[arg(long, default_value = "{}")]
        options: String,
        /// Check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Customer documents: the orphan check.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DocumentsCommand {
    /// Compare document rows with the stored objects and print the orphans both ways (rows
    /// whose object is missing, objects no row names) with their counts; exits with 1 when
    /// there are any.
    Check,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its id.
    Create {
        /// Tenant name.
        #[arg(long)]
        name: String,
        /// Default country (ISO 3166-1 alpha-2) for national phone numbers, e.g. ID.
        #[arg(long)]
        country: Option<String>,
        /// Default currency (ISO 4217), e.g. IDR. Default USD.
        #[arg(long)]
        currency: Option<String>,
    },
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&config).await?;
            tracing::info!(bind = %config.bind, port = app.port(), "crm-server listening");
            app.run_until_stopped().await?;
            tracing::info!("crm-server stopped");
        }
        Command::Migrate => {
            let db = connect(&config).await?;
            migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    country,
                    currency,
                },
        } => {
            let db = connect(&config).await?;
            migrate(&db).await?;
            let tenant = services(&db)
                .tenants
                .create(NewTenant {
                    name,
                    country,
                    currency,
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", tenant.id);
        }
        Command::Token {
            tenant,
            role,
            sub,
            ttl,
        } => {
            let db = connect(&config).await?;
            migrate(&db).await?;
            services(&db)
                .tenants
                .get(TenantId(tenant))
                .await
                .map_err(|_| anyhow::anyhow!("tenant {tenant} does not exist"))?;
            anyhow::ensure!(
                hs256_accepted(&config),
                "the server accepts no HS256 tokens: CRM_AUTH_JWKS_URL is set and CRM_JWT_SECRET \
                 is not (get a token from the identity provider, or set CRM_JWT_SECRET)"
            );
            anyhow::ensure!(
                ttl <= crm_http::auth::MAX_TOKEN_LIFETIME,
                "--ttl is at most 30 days: the server refuses longer-lived tokens"
            );
            let keys = crm_http::JwtKeys::from_secret(jwt_secret(&config)?.as_bytes());
            println!("{}", keys.mint(TenantId(tenant), &sub, &role, ttl)?);
        }
        Command::Openapi => {
            println!("{}", crm_http::openapi().to_pretty_json()?);
        }
        Command::Import {
            kind,
            file,
            tenant,
            options,
            dry_run,
        } => import(&config, &kind, &file, TenantId(tenant), &options, dry_run).await?,
        Command::Documents {
            command: DocumentsCommand::Check,
        } => documents_check(&config).await?,
    }
    Ok(())
}

/// `crm-server documents check`: every row and every object, compared.
async fn documents_check(config: &Config) -> anyhow::Result<()> {
    let db = connect(config).await?;
    migrate(&db).await?;
    let times = config.job_leases().map_err(anyhow::Error::msg)?;
    let services = crm_server::services_with(
        &db,
        crm_server::job_leases(&db, times),
        config.xlsx_limits(),
        crm_server::DocumentWiring::of(config)?,
        config.webhooks(),
    );
    let report = services
        .documents
        .check_orphans(usize::MAX)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "checked {} rows and {} objects",
        report.rows_checked, report.objects_checked
    );
    println!(
        "rows without objects: {}",
        report.rows_without_objects.len()
    );
    for (tenant, id, key) in &report.rows_without_objects {
        println!("  tenant {tenant} document {id}: {key}");
    }
    println!(
        "objects without rows: {}",
        report.objects_without_rows.len()
    );
    for key in &report.objects_without_rows {
        println!("  {key}");
    }
    if !report.rows_without_objects.is_empty() || !report.objects_without_rows.is_empty() {
        anyhow::bail!("orphans found");
    }
    Ok(())
}

/// `crm-server import`: the import use case on a file on disk, with a progress bar.
async fn import(
    config: &Config,
    kind: &str,
    file: &std::path::Path,
    tenant: TenantId,
    options: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    use crm_domain::import::{ImportOptions, ImportRequest};
    let mut value: serde_json::Value =
        serde_json::from_str(options).map_err(|e| anyhow::anyhow!("--options: {e}"))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("--options is a JSON object"))?;
    obj.insert("kind".into(), kind.into());
    if dry_run {
        obj.insert("dry_run".into(), true.into());
    }
    let options: ImportOptions =
        serde_json::from_value(value).map_err(|e| anyhow::anyhow!("--options: {e}"))?;
    let times = config.job_leases().map_err(anyhow::Error::msg)?;
    let db = connect(config).await?;
    migrate(&db).await?;
    // The import's job is held under a lease this process renews, so a server sharing the
    // database leaves it alone.
    let jobs = crm_server::job_leases(&db, times);
    let heartbeat = crm_server::spawn_job_heartbeat(jobs.clone(), times.heartbeat);
    let services = crm_server::services_with(
        &db,
        jobs,
        config.xlsx_limits(),
        crm_server::DocumentWiring::in_memory(),
        config.webhooks(),
    );
    services
        .tenants
        .get(tenant)
        .await
        .map_err(|_| anyhow::anyhow!("tenant {tenant} does not exist"))?;
    let actor = crm_domain::Actor::new(
        tenant,
        crm_domain::UserId::parse("cli-import").ok_or_else(|| anyhow::anyhow!("user id"))?,
        ["admin"],
        [],
    );
    let request = ImportRequest {
        options,
        file_name: file.display().to_string(),
        fingerprint: crm_infra::import_file::fingerprint(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    };
    let accepted = services
        .imports
        .accept(&actor, request, file, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let id = accepted.job.id;
    let run = tokio::spawn(accepted.run);
    let bar = indicatif::ProgressBar::new(accepted.rows);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while !run.is_finished() {
        if let Ok(j) = services.jobs.import(&actor, id).await
            && let Some(progress) = j.import_outcome()
        {
            bar.set_position(progress.counts.rows_read);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = run.await?;
    heartbeat.abort();
    bar.finish_and_clear();
    let outcome = done
        .import_outcome()
        .ok_or_else(|| anyhow::anyhow!("the import job {id} has no outcome"))?;
    let c = outcome.counts;
    println!(
        "{} import {}: {} rows read, {} created, {} updated, {} skipped, {} failed, {} warnings in {:.1} s ({:?} rows/s)",
        kind,
        done.state.as_str(),
        c.rows_read,
        c.created,
        c.updated,
        c.skipped,
        c.failed,
        c.warnings,
        outcome.duration_ms as f64 / 1000.0,
        outcome.rows_per_second,
    );
    if let Some(e) = &done.error {
        println!("error: {e}");
    }
    for w in outcome.warning_rows.iter().take(20) {
        println!(
            "  warning, line {}: {}{}",
            w.line,
            w.field
                .as_deref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default(),
            w.reason
        );
    }
    if c.warnings > 0 && outcome.warning_rows.len() > 20 {
        println!("  ... more warnings in the job's warning_rows (GET /api/v1/imports/{id})");
    }
    let errors = services
        .imports
        .errors(&actor, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for e in errors.iter().take(20) {
        println!(
            "  line {}: {}{}",
            e.line,
            e.field
                .as_deref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default(),
            e.reason
        );
    }
    if errors.len() > 20 {
        println!(
            "  ... {} more (GET /api/v1/imports/{id}/errors)",
            errors.len() - 20
        );
    }
    if done.state != crm_domain::job::JobState::Completed {
        anyhow::bail!("the import failed");
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        // One-shot commands print their result on stdout; keep stderr to warnings unless asked.
        Ok(c)
            if !matches!(cli.command, None | Some(Command::Serve))
                && std::env::var_os("CRM_LOG").is_none() =>
        {
            Config {
                log: "warn".into(),
                ..c
            }
        }
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
